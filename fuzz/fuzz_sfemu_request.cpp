// Fuzzes sfemu's request handling without its HTTP layer: OAuth token and
// revoke forms, Bayeux request bodies, admin publish and fault bodies.
//
// An input is a list of requests, each a line "@<kind>" and then its body up
// to the next line starting with "@": kinds token, revoke, bayeux, publish,
// faults, userinfo, rest, clients, published, sweep. In bodies, $TOKEN is the
// access token last issued and $CLIENT the Bayeux client id last handed out
// (both are random, so the fuzzer could not guess them), and Bayeux requests
// carry the cookies sfemu set. Each input runs against a fresh emulator whose
// held connects return at once (shutdown()).
//
// Checks: every JSON reply sfemu sends with status 200 parses, and every
// Bayeux reply decodes with sfkafkad's own decoder, unless the input armed a
// fault that corrupts bodies.
#include <map>
#include <string>
#include <vector>

#include <simdjson.h>

#include "emulator.h"
#include "fuzz_support.h"
#include "log/log.h"

using namespace sfk;

namespace {

emu::EmulatorConfig fuzzConfig()
{
    static const std::string pem = fuzz::rsaKeyPem(true);
    emu::EmulatorConfig config = emu::defaultConfig();
    emu::OrgConfig &org = config.orgs[0];
    org.apps.push_back({ "jwt-client", "jwt-secret", pem, "" });
    org.refresh_tokens.push_back({ "refresh-1", "sfemu-client", "user@example.com" });
    org.knobs.retention_max_events = 50;
    org.knobs.max_events_per_response = 20;
    return config;
}

std::string replaceAll(std::string s, const std::string &what, const std::string &with)
{
    for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
        s.replace(pos, what.size(), with);
    return s;
}

struct Session {
    std::string token, client;
    std::map<std::string, std::string> cookies;
    bool corrupting = false;   // a fault that breaks bodies may be armed

    std::string expand(std::string body) const
    {
        return replaceAll(replaceAll(std::move(body), "$TOKEN", token), "$CLIENT", client);
    }
    std::string cookieHeader() const
    {
        std::string out;
        for (const auto &[k, v] : cookies)
            out += (out.empty() ? "" : "; ") + k + "=" + v;
        return out;
    }
    void learn(const emu::HttpResult &r)
    {
        for (const auto &[name, value] : r.headers) {
            if (name != "Set-Cookie")
                continue;
            size_t eq = value.find('='), semi = value.find(';');
            if (eq != std::string::npos)
                cookies[value.substr(0, eq)] = value.substr(eq + 1, semi == std::string::npos ? semi : semi - eq - 1);
        }
    }
};

// sfemu's generate feature exists to make millions of events for benchmarks:
// bound it so one input stays small.
bool boundedGenerate(const std::string &body)
{
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root))
        return true;
    int64_t count = 0, bytes = 1024;
    if (root["generate"]["count"].get_int64().get(count) != simdjson::SUCCESS)
        return true;
    (void)root["generate"]["payload_bytes"].get_int64().get(bytes);
    return count <= 100 && bytes <= 64 * 1024;
}

void checkJson(const emu::HttpResult &r)
{
    if (r.status != 200 || r.body.empty() || r.content_type.find("json") == std::string::npos)
        return;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    FUZZ_CHECK(parser.parse(r.body).get(root) == simdjson::SUCCESS);
}

void checkBayeux(const emu::HttpResult &r)
{
    if (r.status != 200)
        return;
    static decode::BatchDecoder decoder;
    fuzz::PaddedInput body(reinterpret_cast<const uint8_t *>(r.body.data()), r.body.size());
    decode::Batch batch;
    std::string error;
    if (!decoder.decode(body.view(), batch, error)) {
        std::fprintf(stderr, "sfemu reply sfkafkad cannot decode (%s): %s\n", error.c_str(), r.body.c_str());
        FUZZ_CHECK(!"sfemu reply decodes");
    }
}

// Whether a request holds only messages on /meta/ channels: the replies to
// anything else (a publish attempt, a message without a channel) are not
// something sfkafkad's decoder is meant to read.
bool onlyMeta(const std::string &body)
{
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root))
        return true;   // refused whole with a meta-shaped error
    auto meta = [](simdjson::dom::element m) {
        std::string_view channel;
        return m["channel"].get_string().get(channel) == simdjson::SUCCESS && channel.starts_with("/meta/");
    };
    simdjson::dom::array arr;
    if (root.get_array().get(arr) != simdjson::SUCCESS)
        return root.is_object() ? meta(root) : true;
    for (auto m : arr)
        if (!meta(m))
            return false;
    return true;
}

void run(emu::Emulator &emu, Session &s, const std::string &kind, const std::string &raw)
{
    const std::string body = s.expand(raw);
    emu::HttpResult r;
    if (kind == "token") {
        r = emu.token(body);
        simdjson::dom::parser parser;
        std::string_view token;
        if (r.status == 200 && !s.corrupting &&
            parser.parse(r.body)["access_token"].get_string().get(token) == simdjson::SUCCESS)
            s.token = std::string(token);
    } else if (kind == "revoke") {
        r = emu.revoke(body);
    } else if (kind == "bayeux") {
        r = emu.bayeux("62.0", body, "Bearer " + s.token, s.cookieHeader());
        s.learn(r);
        if (!s.corrupting) {
            if (onlyMeta(body))
                checkBayeux(r);
            simdjson::dom::parser parser;
            simdjson::dom::array replies;
            if (r.status == 200 && parser.parse(r.body).get_array().get(replies) == simdjson::SUCCESS)
                for (auto m : replies) {
                    std::string_view channel, client;
                    if (m["channel"].get_string().get(channel) == simdjson::SUCCESS &&
                        channel == "/meta/handshake" &&
                        m["clientId"].get_string().get(client) == simdjson::SUCCESS)
                        s.client = std::string(client);
                }
        }
    } else if (kind == "publish") {
        if (!boundedGenerate(body))
            return;
        r = emu.adminPublish("default", body);
    } else if (kind == "faults") {
        if (body.find("malformed_json") != std::string::npos ||
            body.find("trailing_garbage") != std::string::npos || body.find("\\u") != std::string::npos)
            s.corrupting = true;
        r = emu.adminFaults("default", body);
    } else if (kind == "userinfo") {
        r = emu.userinfo("Bearer " + s.token);
    } else if (kind == "rest") {
        r = emu.restApi(body, "Bearer " + s.token);
    } else if (kind == "clients") {
        r = emu.adminClients(body.empty() ? "default" : body);
    } else if (kind == "published") {
        r = emu.adminPublished("default", body);
    } else if (kind == "sweep") {
        emu.sweep();
        return;
    } else {
        return;
    }
    if (!s.corrupting)
        checkJson(r);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    log::setLevelSpec("error");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string input(reinterpret_cast<const char *>(data), size);
    emu::Emulator emu(fuzzConfig());
    emu.setBaseUrl("http://127.0.0.1:8080");
    emu.shutdown();   // held connects return at once
    Session s;
    emu::HttpResult first = emu.token("grant_type=password&client_id=sfemu-client&client_secret=sfemu-secret"
                                      "&username=user%40example.com&password=password");
    simdjson::dom::parser parser;
    std::string_view token;
    FUZZ_CHECK(parser.parse(first.body)["access_token"].get_string().get(token) == simdjson::SUCCESS);
    s.token = std::string(token);

    // Split into "@kind\n<body>" requests (at most 16 per input).
    size_t pos = input.rfind("@", 0) == 0 ? 0 : input.find("\n@");
    if (pos == std::string::npos)
        return 0;
    for (int n = 0; n < 16 && pos != std::string::npos; ++n) {
        if (input[pos] == '\n')
            ++pos;
        size_t eol = input.find('\n', pos);
        std::string kind = input.substr(pos + 1, eol == std::string::npos ? std::string::npos : eol - pos - 1);
        size_t next = eol == std::string::npos ? std::string::npos : input.find("\n@", eol);
        std::string body = eol == std::string::npos
                               ? std::string()
                               : input.substr(eol + 1, next == std::string::npos ? std::string::npos : next - eol - 1);
        run(emu, s, kind, body);
        pos = next;
    }
    return 0;
}
