#pragma once
// A grpc++ client of sfemu's Pub/Sub listener for tests: TLS trusting the
// CA sfemu printed, the three auth metadata keys (lowercase: grpc++ aborts
// on upper case), and an Avro helper built on avro-c.

#include <avro.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "pubsub_api.grpc.pb.h"

namespace sfk::test::pubsub {

inline std::string readText(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::shared_ptr<grpc::Channel> tlsChannel(const std::string &address, const std::string &ca_path,
                                                  const std::string &host = "localhost")
{
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readText(ca_path);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(host);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::string port = address.substr(address.rfind(':'));
    return grpc::CreateCustomChannel(host + port, grpc::SslCredentials(ssl), args);
}

struct Auth {
    std::string token;
    std::string instance_url;
    std::string tenant_id;

    void apply(grpc::ClientContext &ctx, int timeout_s = 30) const
    {
        if (!token.empty())
            ctx.AddMetadata("accesstoken", token);
        if (!instance_url.empty())
            ctx.AddMetadata("instanceurl", instance_url);
        if (!tenant_id.empty())
            ctx.AddMetadata("tenantid", tenant_id);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
    }
};

inline std::string trailer(const grpc::ClientContext &ctx, const std::string &key)
{
    auto md = ctx.GetServerTrailingMetadata();
    auto it = md.find(key);
    return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// Avro-JSON of a payload (unions wrapped: {"string": "x"}), for asserts.
inline std::string avroJson(const std::string &schema_json, const std::string &payload)
{
    avro_schema_t schema;
    if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema))
        throw std::runtime_error(std::string("schema: ") + avro_strerror());
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t value;
    avro_generic_value_new(iface, &value);
    avro_reader_t reader = avro_reader_memory(payload.data(), static_cast<int64_t>(payload.size()));
    int rc = avro_value_read(reader, &value);
    avro_reader_free(reader);
    std::string out;
    if (rc == 0) {
        char *json = nullptr;
        if (avro_value_to_json(&value, 1, &json) == 0) {
            out = json;
            free(json);
        }
    }
    avro_value_decref(&value);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    if (rc)
        throw std::runtime_error("payload does not decode");
    return out;
}

// A platform event payload: CreatedDate, CreatedById, then one optional
// string field written as the schema's union branch 1.
inline std::string encodeEvent(const std::string &schema_json, int64_t created_ms, const std::string &by,
                               const std::string &field, const std::string &text)
{
    avro_schema_t schema;
    if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema))
        throw std::runtime_error(std::string("schema: ") + avro_strerror());
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t value, slot, branch;
    avro_generic_value_new(iface, &value);
    avro_value_get_by_name(&value, "CreatedDate", &slot, nullptr);
    avro_value_set_long(&slot, created_ms);
    avro_value_get_by_name(&value, "CreatedById", &slot, nullptr);
    avro_value_set_string(&slot, by.c_str());
    size_t n = 0;
    avro_value_get_size(&value, &n);
    for (size_t i = 2; i < n; ++i) {
        const char *name = nullptr;
        avro_value_get_by_index(&value, i, &slot, &name);
        if (field == name) {
            avro_value_set_branch(&slot, 1, &branch);
            avro_value_set_string(&branch, text.c_str());
        } else {
            avro_value_set_branch(&slot, 0, &branch);
            avro_value_set_null(&branch);
        }
    }
    size_t size = 0;
    avro_value_sizeof(&value, &size);
    std::string out(size, '\0');
    avro_writer_t writer = avro_writer_memory(out.data(), static_cast<int64_t>(size));
    avro_value_write(writer, &value);
    avro_writer_free(writer);
    avro_value_decref(&value);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return out;
}

} // namespace sfk::test::pubsub
