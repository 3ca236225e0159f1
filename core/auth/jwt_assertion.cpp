#include "auth/jwt_assertion.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <ctime>
#include <memory>

namespace sfk::auth {

namespace {

// Loads (and, when encrypted, decrypts) the key with OpenSSL and re-emits it
// as unencrypted PKCS#8 PEM, the form libjwt takes.
bool normalizeKey(const config::Secret &pem, const config::Secret &passphrase,
                  std::string &out, std::string &error)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> in(
        BIO_new_mem_buf(pem.reveal().data(), static_cast<int>(pem.reveal().size())), BIO_free);
    if (!in) {
        error = "out of memory reading the private key";
        return false;
    }
    void *pass = passphrase.empty() ? nullptr
                                    : const_cast<char *>(passphrase.reveal().c_str());
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, pass), EVP_PKEY_free);
    if (!key) {
        error = passphrase.empty()
                    ? "the private key is not a readable PEM private key (encrypted keys need private_key_passphrase)"
                    : "the private key could not be read (wrong passphrase or not a PEM private key)";
        return false;
    }
    if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
        error = "the private key is not an RSA key (RS256 needs RSA)";
        return false;
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> mem(BIO_new(BIO_s_mem()), BIO_free);
    if (!mem || !PEM_write_bio_PrivateKey(mem.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                          nullptr)) {
        error = "could not re-encode the private key";
        return false;
    }
    char *data = nullptr;
    long len = BIO_get_mem_data(mem.get(), &data);
    out.assign(data, static_cast<size_t>(len));
    return true;
}

} // namespace

bool makeJwtAssertion(const std::string &client_id, const std::string &username,
                      const std::string &audience, const config::Secret &private_key_pem,
                      const config::Secret &passphrase, std::string &assertion,
                      std::string &error)
{
    std::string key;
    if (!normalizeKey(private_key_pem, passphrase, key, error))
        return false;
    jwt_t *raw = nullptr;
    if (jwt_new(&raw) != 0) {
        error = "jwt_new failed";
        return false;
    }
    std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, jwt_free);
    long exp = static_cast<long>(std::time(nullptr)) + 180;
    if (jwt_add_grant(jwt.get(), "iss", client_id.c_str()) ||
        jwt_add_grant(jwt.get(), "sub", username.c_str()) ||
        jwt_add_grant(jwt.get(), "aud", audience.c_str()) ||
        jwt_add_grant_int(jwt.get(), "exp", exp) ||
        jwt_set_alg(jwt.get(), JWT_ALG_RS256,
                    reinterpret_cast<const unsigned char *>(key.data()),
                    static_cast<int>(key.size()))) {
        std::fill(key.begin(), key.end(), '\0');
        error = "could not build the JWT assertion";
        return false;
    }
    std::fill(key.begin(), key.end(), '\0');
    char *encoded = jwt_encode_str(jwt.get());
    if (!encoded) {
        error = "signing the JWT assertion failed";
        return false;
    }
    assertion = encoded;
    std::free(encoded); // libjwt 1.10 allocates with malloc
    return true;
}

} // namespace sfk::auth
