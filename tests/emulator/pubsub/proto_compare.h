#pragma once
// Compares our eventbus.v1 descriptors with another description of the same
// wire contract (Salesforce's published pubsub_api.proto): every message,
// field (name, number, type, label, referenced type), enum value and service
// method (name, input/output type, streaming) in either must match the other.

#include <string>
#include <vector>

namespace google::protobuf {
class FileDescriptor;
}

namespace sfk::test {

// One line per difference; empty when the two files describe the same wire.
std::vector<std::string> compareProtoFiles(const google::protobuf::FileDescriptor &ours,
                                           const google::protobuf::FileDescriptor &theirs);

// Builds the last file of a serialized FileDescriptorSet (protoc
// --descriptor_set_out, imports included) and compares it with ours.
std::vector<std::string> compareWithDescriptorSet(const google::protobuf::FileDescriptor &ours,
                                                  const std::string &descriptor_set);

} // namespace sfk::test
