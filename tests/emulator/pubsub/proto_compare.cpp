#include "proto_compare.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

namespace sfk::test {

namespace pb = google::protobuf;

namespace {

std::string fieldShape(const pb::FieldDescriptor &f)
{
    std::string shape = "number " + std::to_string(f.number()) + ", type " + f.type_name();
    if (f.is_repeated())
        shape += ", repeated";
    if (f.message_type())
        shape += " " + f.message_type()->full_name();
    if (f.enum_type())
        shape += " " + f.enum_type()->full_name();
    if (f.containing_oneof())
        shape += ", oneof " + std::string(f.containing_oneof()->name());
    return shape;
}

void compareMessages(const pb::Descriptor &a, const pb::Descriptor &b, std::vector<std::string> &out)
{
    const std::string name = a.full_name();
    for (int i = 0; i < a.field_count(); ++i) {
        const pb::FieldDescriptor &fa = *a.field(i);
        const pb::FieldDescriptor *fb = b.FindFieldByName(fa.name());
        if (!fb) {
            out.push_back(name + "." + fa.name() + ": only in ours");
            continue;
        }
        if (fieldShape(fa) != fieldShape(*fb))
            out.push_back(name + "." + fa.name() + ": ours is " + fieldShape(fa) +
                          "; published is " + fieldShape(*fb));
    }
    for (int i = 0; i < b.field_count(); ++i)
        if (!a.FindFieldByName(b.field(i)->name()))
            out.push_back(name + "." + b.field(i)->name() + ": only in the published file");
    for (int i = 0; i < a.nested_type_count(); ++i) {
        const pb::Descriptor *nb = b.FindNestedTypeByName(a.nested_type(i)->name());
        if (!nb)
            out.push_back(a.nested_type(i)->full_name() + ": only in ours");
        else
            compareMessages(*a.nested_type(i), *nb, out);
    }
    for (int i = 0; i < b.nested_type_count(); ++i)
        if (!a.FindNestedTypeByName(b.nested_type(i)->name()))
            out.push_back(b.nested_type(i)->full_name() + ": only in the published file");
}

void compareEnums(const pb::EnumDescriptor &a, const pb::EnumDescriptor &b, std::vector<std::string> &out)
{
    for (int i = 0; i < a.value_count(); ++i) {
        const pb::EnumValueDescriptor *vb = b.FindValueByName(a.value(i)->name());
        if (!vb)
            out.push_back(a.value(i)->full_name() + ": only in ours");
        else if (vb->number() != a.value(i)->number())
            out.push_back(a.value(i)->full_name() + ": ours is " + std::to_string(a.value(i)->number()) +
                          "; published is " + std::to_string(vb->number()));
    }
    for (int i = 0; i < b.value_count(); ++i)
        if (!a.FindValueByName(b.value(i)->name()))
            out.push_back(b.value(i)->full_name() + ": only in the published file");
}

std::string methodShape(const pb::MethodDescriptor &m)
{
    return std::string(m.client_streaming() ? "stream " : "") + m.input_type()->full_name() + " -> " +
           (m.server_streaming() ? "stream " : "") + m.output_type()->full_name();
}

void compareServices(const pb::ServiceDescriptor &a, const pb::ServiceDescriptor &b,
                     std::vector<std::string> &out)
{
    for (int i = 0; i < a.method_count(); ++i) {
        const pb::MethodDescriptor &ma = *a.method(i);
        const pb::MethodDescriptor *mb = b.FindMethodByName(ma.name());
        if (!mb)
            out.push_back(ma.full_name() + ": only in ours");
        else if (methodShape(ma) != methodShape(*mb))
            out.push_back(ma.full_name() + ": ours is " + methodShape(ma) + "; published is " +
                          methodShape(*mb));
    }
    for (int i = 0; i < b.method_count(); ++i)
        if (!a.FindMethodByName(b.method(i)->name()))
            out.push_back(b.method(i)->full_name() + ": only in the published file");
}

} // namespace

std::vector<std::string> compareProtoFiles(const pb::FileDescriptor &ours, const pb::FileDescriptor &theirs)
{
    std::vector<std::string> out;
    if (ours.package() != theirs.package())
        out.push_back("package: ours is " + ours.package() + "; published is " + theirs.package());
    for (int i = 0; i < ours.message_type_count(); ++i) {
        const pb::Descriptor *b = theirs.FindMessageTypeByName(ours.message_type(i)->name());
        if (!b)
            out.push_back(ours.message_type(i)->full_name() + ": only in ours");
        else
            compareMessages(*ours.message_type(i), *b, out);
    }
    for (int i = 0; i < theirs.message_type_count(); ++i)
        if (!ours.FindMessageTypeByName(theirs.message_type(i)->name()))
            out.push_back(theirs.message_type(i)->full_name() + ": only in the published file");
    for (int i = 0; i < ours.enum_type_count(); ++i) {
        const pb::EnumDescriptor *b = theirs.FindEnumTypeByName(ours.enum_type(i)->name());
        if (!b)
            out.push_back(ours.enum_type(i)->full_name() + ": only in ours");
        else
            compareEnums(*ours.enum_type(i), *b, out);
    }
    for (int i = 0; i < theirs.enum_type_count(); ++i)
        if (!ours.FindEnumTypeByName(theirs.enum_type(i)->name()))
            out.push_back(theirs.enum_type(i)->full_name() + ": only in the published file");
    for (int i = 0; i < ours.service_count(); ++i) {
        const pb::ServiceDescriptor *b = theirs.FindServiceByName(ours.service(i)->name());
        if (!b)
            out.push_back(ours.service(i)->full_name() + ": only in ours");
        else
            compareServices(*ours.service(i), *b, out);
    }
    for (int i = 0; i < theirs.service_count(); ++i)
        if (!ours.FindServiceByName(theirs.service(i)->name()))
            out.push_back(theirs.service(i)->full_name() + ": only in the published file");
    return out;
}

std::vector<std::string> compareWithDescriptorSet(const pb::FileDescriptor &ours,
                                                  const std::string &descriptor_set)
{
    // Built in a pool of its own: the generated pool already holds eventbus.v1.
    pb::FileDescriptorSet set;
    if (!set.ParseFromString(descriptor_set))
        return {"the published descriptor set does not parse"};
    pb::DescriptorPool pool;
    const pb::FileDescriptor *theirs = nullptr;
    for (const auto &file : set.file()) {
        theirs = pool.BuildFile(file);
        if (!theirs)
            return {file.name() + ": not a consistent proto file"};
    }
    if (!theirs)
        return {"the published descriptor set holds no file"};
    return compareProtoFiles(ours, *theirs);
}

} // namespace sfk::test
