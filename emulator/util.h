#pragma once
// Small helpers of sfemu: time, random identifiers, JSON string escaping,
// base64 and the token signature. Kept here (not in core/) on purpose.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace sfk::emu {

// Wall clock (epoch milliseconds) and a monotonic clock (milliseconds).
int64_t nowMs();
int64_t steadyMs();

// "2026-03-29T16:40:08.208Z"
std::string isoTime(int64_t epoch_ms);
// Parses the format above (fraction optional); nullopt when it is not one.
std::optional<int64_t> parseIsoTime(std::string_view text);

// Random text from a thread-local generator seeded from the OS.
std::string randomString(size_t length, std::string_view alphabet);
std::string randomAlnum(size_t length);
std::string randomLowerAlnum(size_t length);
// An RFC 4122 version 4 UUID.
std::string uuid4();
std::string uuid4(std::mt19937_64 &rng);

// An 18-character Salesforce-looking record id: the 3-character key prefix,
// then a counter in base 62, then "AAA"-style suffix.
std::string salesforceId(std::string_view prefix, uint64_t number);

// A Salesforce developer name: a letter first, then letters, digits and
// single underscores, no underscore at the end, at most 80 characters.
bool isDeveloperName(std::string_view s);

// Appends s as a quoted JSON string.
void appendJsonString(std::string &out, std::string_view s);
std::string jsonString(std::string_view s);

std::string base64(std::string_view data);
std::string base64Url(std::string_view data);
// Base64 of HMAC-SHA256(key, data): the "signature" of a token response.
std::string hmacSha256Base64(std::string_view key, std::string_view data);

// Splits "host:port"; returns false on a malformed value.
bool splitHostPort(const std::string &text, std::string &host, int &port);
bool isLoopbackHost(const std::string &host);

// Percent-decoding of an application/x-www-form-urlencoded value.
std::string formDecode(std::string_view text);

} // namespace sfk::emu

namespace sfk::emu {
// Decodes base64url (padding optional); false on a bad character.
bool base64UrlDecode(std::string_view in, std::string &out);
} // namespace sfk::emu
