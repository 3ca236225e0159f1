#include "util.h"

#include <cctype>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace sfk::emu {

int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t steadyMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string isoTime(int64_t epoch_ms)
{
    time_t secs = static_cast<time_t>(epoch_ms / 1000);
    int ms = static_cast<int>(epoch_ms % 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

std::optional<int64_t> parseIsoTime(std::string_view text)
{
    int y, mo, d, h, mi, s;
    std::string copy(text);
    int consumed = 0;
    if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s,
                    &consumed) != 6)
        return std::nullopt;
    int ms = 0;
    size_t pos = static_cast<size_t>(consumed);
    if (pos < copy.size() && copy[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < copy.size() && copy[pos] >= '0' && copy[pos] <= '9') {
            if (digits < 3)
                ms = ms * 10 + (copy[pos] - '0');
            ++digits;
            ++pos;
        }
        for (; digits < 3; ++digits)
            ms *= 10;
    }
    if (pos < copy.size() && copy[pos] == 'Z')
        ++pos;
    else if (pos + 5 <= copy.size() && (copy[pos] == '+' || copy[pos] == '-'))
        pos += copy[pos + 3] == ':' ? 6 : 5; // offsets other than +00:00 are rare; ignored
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t secs = timegm(&tm);
    return static_cast<int64_t>(secs) * 1000 + ms;
}

namespace {
std::mt19937_64 &threadRng()
{
    thread_local std::mt19937_64 rng([] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd()};
        std::mt19937_64 g(seq);
        return g;
    }());
    return rng;
}
constexpr std::string_view kAlnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view kLowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
} // namespace

std::string randomString(size_t length, std::string_view alphabet)
{
    auto &rng = threadRng();
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
    std::string out(length, ' ');
    for (auto &c : out)
        c = alphabet[pick(rng)];
    return out;
}

std::string randomAlnum(size_t length) { return randomString(length, kAlnum); }
std::string randomLowerAlnum(size_t length) { return randomString(length, kLowerAlnum); }

std::string uuid4(std::mt19937_64 &rng)
{
    uint64_t hi = rng(), lo = rng();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                  static_cast<unsigned>(hi & 0xffff), static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
}

std::string uuid4() { return uuid4(threadRng()); }

bool isDeveloperName(std::string_view s)
{
    if (s.empty() || s.size() > 80 || !std::isalpha(static_cast<unsigned char>(s[0])) || s.back() == '_' ||
        s.find("__") != std::string_view::npos)
        return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
            return false;
    return true;
}

std::string salesforceId(std::string_view prefix, uint64_t number)
{
    std::string body(12, '0');
    for (int i = 11; i >= 0 && number; --i) {
        body[static_cast<size_t>(i)] = kAlnum[number % 62];
        number /= 62;
    }
    std::string id(prefix.substr(0, 3));
    while (id.size() < 3)
        id += '0';
    id += body;
    id += "AAA";
    return id;
}

void appendJsonString(std::string &out, std::string_view s)
{
    static const char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

std::string jsonString(std::string_view s)
{
    std::string out;
    out.reserve(s.size() + 2);
    appendJsonString(out, s);
    return out;
}

std::string base64(std::string_view data)
{
    static const char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i + 1 == data.size()) {
        uint32_t v = uint8_t(data[i]) << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == data.size()) {
        uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string base64Url(std::string_view data)
{
    std::string out = base64(data);
    for (auto &c : out) {
        if (c == '+') c = '-';
        else if (c == '/') c = '_';
    }
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    return out;
}

std::string hmacSha256Base64(std::string_view key, std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char *>(data.data()), data.size(), md, &len);
    return base64(std::string_view(reinterpret_cast<const char *>(md), len));
}

bool splitHostPort(const std::string &text, std::string &host, int &port)
{
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= text.size())
        return false;
    host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    try {
        size_t used = 0;
        port = std::stoi(text.substr(colon + 1), &used);
        if (used != text.size() - colon - 1 || port < 0 || port > 65535)
            return false;
    } catch (...) {
        return false;
    }
    return true;
}

bool isLoopbackHost(const std::string &host)
{
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string formDecode(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    auto hexval = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() &&
                   hexval(text[i + 1]) >= 0 && hexval(text[i + 2]) >= 0) {
            out += static_cast<char>(hexval(text[i + 1]) * 16 + hexval(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace sfk::emu

namespace sfk::emu {
bool base64UrlDecode(std::string_view in, std::string &out)
{
    out.clear();
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-' || c == '+') v = 62;
        else if (c == '_' || c == '/') v = 63;
        else if (c == '=') break;
        else return false;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return true;
}
} // namespace sfk::emu
