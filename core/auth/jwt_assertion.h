#pragma once
// The RS256 assertion of the OAuth 2.0 JWT bearer flow, signed with libjwt.

#include <string>

#include "config/secret.h"

namespace sfk::auth {

// iss = client id, sub = username, aud = audience, exp = now + 3 minutes.
// The key is PEM (PKCS#8 or PKCS#1), optionally encrypted with passphrase.
// Error texts never contain the key, the passphrase or the assertion.
bool makeJwtAssertion(const std::string &client_id, const std::string &username,
                      const std::string &audience, const config::Secret &private_key_pem,
                      const config::Secret &passphrase, std::string &assertion,
                      std::string &error);

} // namespace sfk::auth
