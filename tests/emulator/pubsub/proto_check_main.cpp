// pubsub_proto_check DESCRIPTOR_SET: compares our eventbus.v1 descriptors
// with the published pubsub_api.proto (compiled by protoc into a descriptor
// set by proto_check.sh); prints every difference and exits 1 on any.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "proto_compare.h"
#include "pubsub_api.pb.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: pubsub_proto_check DESCRIPTOR_SET\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "pubsub_proto_check: cannot read %s\n", argv[1]);
        return 2;
    }
    std::stringstream bytes;
    bytes << in.rdbuf();
    const auto *ours = eventbus::v1::FetchRequest::descriptor()->file();
    auto diffs = sfk::test::compareWithDescriptorSet(*ours, bytes.str());
    for (const auto &d : diffs)
        std::fprintf(stderr, "MISMATCH %s\n", d.c_str());
    if (!diffs.empty()) {
        std::fprintf(stderr, "pubsub_proto_check: %zu difference(s) between proto/pubsub_api.proto and "
                             "the published file\n", diffs.size());
        return 1;
    }
    std::printf("pubsub_proto_check: %d messages, %d enums, %d services match the published file\n",
                ours->message_type_count(), ours->enum_type_count(), ours->service_count());
    return 0;
}
