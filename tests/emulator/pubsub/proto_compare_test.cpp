// The descriptor comparison itself: silent on identical files, loud on each
// kind of drift (built from our own descriptors, changed one fact at a time).
#include <doctest/doctest.h>
#include <google/protobuf/descriptor.pb.h>

#include <functional>

#include "proto_compare.h"
#include "pubsub_api.pb.h"

namespace pb = google::protobuf;

namespace {

const pb::FileDescriptor &ours() { return *eventbus::v1::FetchRequest::descriptor()->file(); }

std::vector<std::string> diffAfter(const std::function<void(pb::FileDescriptorProto &)> &change)
{
    pb::FileDescriptorProto proto;
    ours().CopyTo(&proto);
    change(proto);
    pb::FileDescriptorSet set;
    *set.add_file() = proto;
    return sfk::test::compareWithDescriptorSet(ours(), set.SerializeAsString());
}

pb::DescriptorProto &message(pb::FileDescriptorProto &f, const std::string &name)
{
    for (auto &m : *f.mutable_message_type())
        if (m.name() == name)
            return m;
    FAIL("no message " << name);
    throw 0;
}

pb::FieldDescriptorProto &field(pb::DescriptorProto &m, const std::string &name)
{
    for (auto &f : *m.mutable_field())
        if (f.name() == name)
            return f;
    FAIL("no field " << name);
    throw 0;
}

bool mentions(const std::vector<std::string> &diffs, const std::string &what)
{
    for (auto &d : diffs)
        if (d.find(what) != std::string::npos)
            return true;
    return false;
}

} // namespace

TEST_CASE("our eventbus.v1 descriptors hold the documented service")
{
    const auto &f = ours();
    CHECK(f.package() == "eventbus.v1");
    const auto *service = f.FindServiceByName("PubSub");
    REQUIRE(service);
    CHECK(service->method_count() == 6);
    const auto *subscribe = service->FindMethodByName("Subscribe");
    REQUIRE(subscribe);
    CHECK(subscribe->client_streaming());
    CHECK(subscribe->server_streaming());
}

TEST_CASE("identical descriptors compare equal")
{
    CHECK(diffAfter([](pb::FileDescriptorProto &) {}).empty());
}

TEST_CASE("each kind of drift is reported")
{
    auto number = diffAfter([](auto &f) { field(message(f, "FetchRequest"), "num_requested").set_number(9); });
    CHECK(mentions(number, "eventbus.v1.FetchRequest.num_requested"));

    auto type = diffAfter([](auto &f) {
        field(message(f, "ConsumerEvent"), "replay_id").set_type(pb::FieldDescriptorProto::TYPE_STRING);
    });
    CHECK(mentions(type, "eventbus.v1.ConsumerEvent.replay_id"));

    auto label = diffAfter([](auto &f) {
        field(message(f, "PublishRequest"), "events").set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
    });
    CHECK(mentions(label, "eventbus.v1.PublishRequest.events"));

    auto extra = diffAfter([](auto &f) {
        auto *x = message(f, "TopicInfo").add_field();
        x->set_name("extra");
        x->set_number(7);
        x->set_type(pb::FieldDescriptorProto::TYPE_INT32);
        x->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
    });
    CHECK(mentions(extra, "TopicInfo.extra: only in the published file"));

    auto value = diffAfter([](auto &f) {
        for (auto &e : *f.mutable_enum_type())
            if (e.name() == "ReplayPreset")
                e.mutable_value(2)->set_number(5);
    });
    CHECK(mentions(value, "eventbus.v1.CUSTOM"));

    auto streaming = diffAfter([](auto &f) {
        for (auto &m : *f.mutable_service(0)->mutable_method())
            if (m.name() == "PublishStream")
                m.set_server_streaming(false);
    });
    CHECK(mentions(streaming, "PublishStream"));

    auto gone = diffAfter([](auto &f) {
        auto *methods = f.mutable_service(0)->mutable_method();
        methods->erase(methods->begin() + 5);
    });
    CHECK(mentions(gone, "ManagedSubscribe: only in ours"));
}

TEST_CASE("an unreadable descriptor set is a difference, not a pass")
{
    CHECK_FALSE(sfk::test::compareWithDescriptorSet(ours(), "not a descriptor set").empty());
}
