#pragma once
// Standard base64 (RFC 4648 alphabet, with padding): Avro bytes in JSON and
// Pub/Sub replay ids in the state file, headers and the replay command.

#include <string>
#include <string_view>

namespace sfk::decode {

void appendBase64(std::string &out, std::string_view bytes);
std::string base64(std::string_view bytes);
// Padding required, no whitespace; false (out unspecified) on anything else.
bool base64Decode(std::string_view text, std::string &out);

} // namespace sfk::decode
