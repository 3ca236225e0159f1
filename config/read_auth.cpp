// The config loader: an org's `auth:` section, one flow's keys at a time
// (config/loader_parts.h).
#include <cstring>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config/loader_parts.h"
#include "config/validate.h"

namespace sfk::config::load {

namespace {

struct FlowSpec {
    const char *name;
    AuthFlow flow;
    std::vector<std::string> required;
    std::vector<std::string> optional;
};

const std::vector<FlowSpec> &flowSpecs()
{
    static const std::vector<FlowSpec> specs = {
        { "password", AuthFlow::Password, { "client_id", "client_secret", "username", "password" }, {} },
        { "refresh_token", AuthFlow::RefreshToken, { "client_id", "refresh_token" }, { "client_secret" } },
        { "jwt_bearer", AuthFlow::JwtBearer, { "client_id", "username", "private_key" },
          { "private_key_passphrase", "audience" } },
        { "client_credentials", AuthFlow::ClientCredentials, { "client_id", "client_secret" }, {} },
    };
    return specs;
}

const std::vector<std::string> kAuthKeys = { "flow",     "client_id",     "client_secret", "username",
                                             "password", "refresh_token", "private_key",   "private_key_passphrase",
                                             "audience" };

bool isSecretKey(std::string_view key)
{
    return key == "client_secret" || key == "password" || key == "refresh_token" || key == "private_key" ||
           key == "private_key_passphrase";
}

int passphraseCallback(char *buf, int size, int, void *userdata)
{
    const auto *passphrase = static_cast<const std::string *>(userdata);
    if (!passphrase || passphrase->empty() || static_cast<int>(passphrase->size()) > size)
        return -1;
    std::memcpy(buf, passphrase->data(), passphrase->size());
    return static_cast<int>(passphrase->size());
}

// "" when the PEM parses as a private key; the message never shows the key.
std::string checkPrivateKey(const Secret &key, const Secret &passphrase)
{
    BIO *bio = BIO_new_mem_buf(key.reveal().data(), static_cast<int>(key.reveal().size()));
    if (!bio)
        return "cannot check private_key (out of memory)";
    std::string pass = passphrase.reveal();
    ERR_clear_error();
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, nullptr, passphraseCallback, &pass);
    BIO_free(bio);
    if (pkey) {
        EVP_PKEY_free(pkey);
        return {};
    }
    ERR_clear_error();
    if (key.reveal().find("-----BEGIN") == std::string::npos)
        return "private_key is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)";
    if (key.reveal().find("ENCRYPTED") != std::string::npos)
        return passphrase.empty() ? "private_key is encrypted: set private_key_passphrase"
                                  : "cannot decrypt private_key: wrong private_key_passphrase?";
    return "private_key is not a readable PEM private key";
}

} // namespace

void readAuth(Context &ctx, const Field &f, Org &org, bool loopback, bool &ok)
{
    MapReader map(ctx, f.value, f.keyMark(), f.path, kAuthKeys);
    if (!map.valid()) {
        ok = false;
        return;
    }
    std::vector<std::string> flowNames;
    for (const FlowSpec &spec : flowSpecs())
        flowNames.push_back(spec.name);

    const FlowSpec *spec = nullptr;
    if (const Field *flow = map.require(ctx, "flow", " (one of: " + joinList(flowNames) + ")")) {
        if (auto index = readEnum(ctx, *flow, flowNames))
            spec = &flowSpecs()[*index];
        if (spec && spec->flow == AuthFlow::Password)
            ctx.warning(flow->valueMark(), flow->path,
                        "the username-password flow is legacy and Salesforce is retiring it (orgs created "
                        "since Summer '26 cannot use it; enforcement everywhere is announced for February "
                        "2027): use jwt_bearer or client_credentials");
    }
    if (!spec) {
        ok = false;
        return;
    }
    org.auth.flow = spec->flow;

    // Keys that belong to another flow.
    for (const Field &field : map.fields()) {
        if (field.key == "flow")
            continue;
        bool allowed = std::count(spec->required.begin(), spec->required.end(), field.key) ||
                       std::count(spec->optional.begin(), spec->optional.end(), field.key);
        if (allowed)
            continue;
        std::vector<std::string> owners;
        for (const FlowSpec &other : flowSpecs())
            if (std::count(other.required.begin(), other.required.end(), field.key) ||
                std::count(other.optional.begin(), other.optional.end(), field.key))
                owners.push_back(other.name);
        std::vector<std::string> takes = spec->required;
        takes.insert(takes.end(), spec->optional.begin(), spec->optional.end());
        ctx.error(field.keyMark(), field.path,
                  "'" + field.key + "' is not used by the " + spec->name + " flow (it belongs to " +
                      joinList(owners) + "); " + spec->name + " takes: flow, " + joinList(takes));
        ok = false;
    }
    for (const std::string &key : spec->required) {
        if (!map.find(key)) {
            ctx.error(f.keyMark(), f.path,
                      "the " + std::string(spec->name) + " flow needs '" + key + "'" +
                          (isSecretKey(key) ? " (e.g. " + key + ": ${credential:" + org.name + "." + key + "})"
                                            : std::string()));
            ok = false;
        }
    }

    std::string why = "login_url is a loopback address";
    auto secret = [&](const char *key, Secret &out) {
        const Field *field = map.find(key);
        if (!field || !(std::count(spec->required.begin(), spec->required.end(), key) ||
                        std::count(spec->optional.begin(), spec->optional.end(), key)))
            return;
        if (auto value = readSecret(ctx, *field, loopback, why))
            out = std::move(*value);
        else
            ok = false;
    };
    auto plain = [&](const char *key, std::string &out) {
        const Field *field = map.find(key);
        if (!field || !(std::count(spec->required.begin(), spec->required.end(), key) ||
                        std::count(spec->optional.begin(), spec->optional.end(), key)))
            return;
        std::optional<std::string> value = readString(ctx, *field);
        if (!value) {
            ok = false;
        } else if (value->empty()) {
            ctx.error(field->valueMark(), field->path, "must not be empty");
            ok = false;
        } else {
            out = std::move(*value);
        }
    };
    plain("client_id", org.auth.client_id);
    plain("username", org.auth.username);
    plain("audience", org.auth.audience);
    secret("client_secret", org.auth.client_secret);
    secret("password", org.auth.password);
    secret("refresh_token", org.auth.refresh_token);
    secret("private_key", org.auth.private_key);
    secret("private_key_passphrase", org.auth.private_key_passphrase);

    if (spec->flow == AuthFlow::JwtBearer && !org.auth.private_key.empty()) {
        std::string problem = checkPrivateKey(org.auth.private_key, org.auth.private_key_passphrase);
        if (!problem.empty()) {
            const Field *field = map.find("private_key");
            ctx.error(field->valueMark(), field->path, problem);
            ok = false;
        }
    }
    if (spec->flow == AuthFlow::JwtBearer && org.auth.audience.empty())
        org.auth.audience = org.login_url;
}

} // namespace sfk::config::load
