// Fuzzes the configuration loader (YAML text, ${...} interpolation,
// validation) with a fixed environment: a few variables, a credentials
// directory and files that exist only in memory (Environment::read_file), so
// ${file:...} and ${credential:...} never touch the real file system.
//
// kafka.librdkafka maps are accepted only with harmless property names:
// librdkafka itself can load plugins or read and run files named by its
// properties, which a fuzzer must not be able to ask for.
#include <map>
#include <set>
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/loader.h"
#include "fuzz_support.h"
#include "log/log.h"

using namespace sfk;

namespace {

const std::map<std::string, std::string> &files()
{
    static const std::map<std::string, std::string> f = {
        { "/creds/acme.client_secret", "acme-secret\n" },
        { "/creds/acme.password", "acme-password" },
        { "/creds/acme.security_token", "TOKEN123\n" },
        { "/creds/globex.refresh_token", "5Aep861refresh" },
        { "/creds/initech.key", fuzz::rsaKeyPem(false) },
        { "/creds/kafka.password", "kafka-pass" },
        { "/creds/empty", "" },
        { "/etc/sfkafka/umbrella.secret", "umbrella-secret\r\n" },
        { "/fuzz/key.pem", fuzz::rsaKeyPem(false) },
    };
    return f;
}

config::Environment fuzzEnvironment()
{
    static const std::map<std::string, std::string> vars = {
        { "KAFKA_BOOTSTRAP", "127.0.0.1:9092" },
        { "SFEMU_URL", "http://127.0.0.1:8080" },
        { "SFKAFKA_STATE_DIR", "/var/lib/sfkafka" },
        { "SFKAFKA_HTTP_LISTEN", "127.0.0.1:9464" },
        { "GLOBEX_CLIENT_SECRET", "globex-secret" },
        { "SECRET", "s3cr3t" },
        { "EMPTY", "" },
        { "HOME", "/root" },
    };
    config::Environment env;
    env.getenv = [](const std::string &name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end())
            return std::nullopt;
        return it->second;
    };
    env.credentials_directory = "/creds";
    env.state_directory = "/var/lib/sfkafka";
    env.read_file = [](const std::string &path, std::string &content, std::string &error) {
        auto it = files().find(path);
        if (it == files().end()) {
            error = "cannot read " + path + ": No such file or directory";
            return false;
        }
        content = it->second;
        return true;
    };
    return env;
}

bool harmlessLibrdkafka(const YAML::Node &node, int depth = 0)
{
    static const std::set<std::string> allowed = {
        "acks", "enable.idempotence", "linger.ms", "compression.type", "batch.size",
        "message.timeout.ms", "queue.buffering.max.kbytes", "queue.buffering.max.messages",
        "client.id", "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username",
        "sasl.password", "transactional.id", "bootstrap.servers", "request.timeout.ms",
        "retries", "max.in.flight", "socket.keepalive.enable", "statistics.interval.ms",
    };
    if (depth > 64)
        return false;
    if (node.IsMap()) {
        for (const auto &kv : node) {
            if (kv.first.IsScalar() && kv.first.Scalar() == "librdkafka") {
                if (kv.second.IsMap())
                    for (const auto &p : kv.second)
                        if (!p.first.IsScalar() || !allowed.count(p.first.Scalar()))
                            return false;
            } else if (!kv.first.IsScalar()) {
                return false;
            }
            if (!harmlessLibrdkafka(kv.second, depth + 1))
                return false;
        }
    } else if (node.IsSequence()) {
        for (const auto &item : node)
            if (!harmlessLibrdkafka(item, depth + 1))
                return false;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    log::setLevelSpec("error");
    files();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const config::Environment env = fuzzEnvironment();
    const std::string yaml(reinterpret_cast<const char *>(data), size);
    try {
        // The loader reads only the first document (YAML::LoadAll could hang).
        if (!harmlessLibrdkafka(YAML::Load(yaml)))
            return -1;
    } catch (const YAML::Exception &) {
        // The loader reports it.
    }

    config::LoadResult r = config::loadString(yaml, "fuzz.yaml", env);
    FUZZ_CHECK(r.ok() == r.errors.empty());
    FUZZ_CHECK(r.config.has_value() == r.errors.empty());
    for (const auto &d : r.errors)
        FUZZ_CHECK(!d.str().empty() && d.severity == config::Diagnostic::Severity::Error);
    for (const auto &d : r.warnings)
        FUZZ_CHECK(!d.str().empty());
    if (r.ok()) {
        FUZZ_CHECK(!config::summary(*r.config).empty());
        std::string spec = config::logLevelSpec(*r.config), error;
        FUZZ_CHECK(log::parseLevelSpec(spec, &error));
    }
    return 0;
}
