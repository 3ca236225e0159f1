#include <doctest/doctest.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <ctime>
#include <memory>

#include "auth/jwt_assertion.h"
#include "auth/token_provider.h"
#include "session/backoff.h"

using namespace sfk;

namespace {

struct KeyPair {
    std::string private_pem, public_pem, encrypted_pem;
};

KeyPair makeKeyPair()
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    REQUIRE(key);
    KeyPair kp;
    auto toString = [](BIO *b) {
        char *data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        return std::string(data, static_cast<size_t>(n));
    };
    BIO *priv = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
    kp.private_pem = toString(priv);
    BIO_free(priv);
    BIO *enc = BIO_new(BIO_s_mem());
    const char *pass = "correct horse";
    PEM_write_bio_PrivateKey(enc, key, EVP_aes_256_cbc(), nullptr, 0, nullptr,
                             const_cast<char *>(pass));
    kp.encrypted_pem = toString(enc);
    BIO_free(enc);
    BIO *pub = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(pub, key);
    kp.public_pem = toString(pub);
    BIO_free(pub);
    EVP_PKEY_free(key);
    return kp;
}

config::Org orgWith(config::AuthFlow flow)
{
    config::Org org;
    org.name = "acme";
    org.login_url = "https://acme.my.salesforce.com";
    org.auth.flow = flow;
    org.auth.client_id = "3MVG9client";
    org.auth.client_secret = config::Secret("s3cr&t=");
    org.auth.username = "int@acme.com";
    org.auth.password = config::Secret("pw+token");
    org.auth.refresh_token = config::Secret("5Aep861refresh");
    return org;
}

} // namespace

TEST_CASE("form values are percent-encoded")
{
    CHECK(auth::urlEncode("a b&c=d+e/é") == "a%20b%26c%3Dd%2Be%2F%C3%A9");
    CHECK(auth::urlEncode("Az09-_.~") == "Az09-_.~");
}

TEST_CASE("each flow builds its own form body")
{
    std::string body, err;
    auth::TokenProvider password(orgWith(config::AuthFlow::Password));
    REQUIRE(password.buildRequestBody(body, err));
    CHECK(body == "grant_type=password&client_id=3MVG9client&client_secret=s3cr%26t%3D"
                  "&username=int%40acme.com&password=pw%2Btoken");

    auth::TokenProvider refresh(orgWith(config::AuthFlow::RefreshToken));
    REQUIRE(refresh.buildRequestBody(body, err));
    CHECK(body == "grant_type=refresh_token&client_id=3MVG9client&client_secret=s3cr%26t%3D"
                  "&refresh_token=5Aep861refresh");

    auth::TokenProvider cc(orgWith(config::AuthFlow::ClientCredentials));
    REQUIRE(cc.buildRequestBody(body, err));
    CHECK(body == "grant_type=client_credentials&client_id=3MVG9client&client_secret=s3cr%26t%3D");
}

TEST_CASE("the JWT bearer assertion is RS256 with iss, sub, aud and a short exp")
{
    KeyPair kp = makeKeyPair();
    for (bool encrypted : {false, true}) {
        std::string assertion, err;
        config::Secret key(encrypted ? kp.encrypted_pem : kp.private_pem);
        config::Secret pass(encrypted ? "correct horse" : "");
        REQUIRE(auth::makeJwtAssertion("3MVG9client", "int@acme.com",
                                       "https://login.salesforce.com", key, pass, assertion, err));
        jwt_t *decoded = nullptr;
        REQUIRE(jwt_decode(&decoded, assertion.c_str(),
                           reinterpret_cast<const unsigned char *>(kp.public_pem.data()),
                           static_cast<int>(kp.public_pem.size())) == 0);
        CHECK(jwt_get_alg(decoded) == JWT_ALG_RS256);
        CHECK(std::string(jwt_get_grant(decoded, "iss")) == "3MVG9client");
        CHECK(std::string(jwt_get_grant(decoded, "sub")) == "int@acme.com");
        CHECK(std::string(jwt_get_grant(decoded, "aud")) == "https://login.salesforce.com");
        long exp = jwt_get_grant_int(decoded, "exp");
        long now = static_cast<long>(std::time(nullptr));
        CHECK(exp > now);
        CHECK(exp <= now + 180);
        jwt_free(decoded);
    }
}

TEST_CASE("a wrong passphrase or a non-key gives an error without secrets")
{
    KeyPair kp = makeKeyPair();
    std::string assertion, err;
    CHECK_FALSE(auth::makeJwtAssertion("c", "u", "a", config::Secret(kp.encrypted_pem),
                                       config::Secret("wrong-pass-xyz"), assertion, err));
    CHECK(err.find("wrong passphrase") != std::string::npos);
    CHECK(err.find("wrong-pass-xyz") == std::string::npos);
    CHECK_FALSE(auth::makeJwtAssertion("c", "u", "a", config::Secret("not a key"),
                                       config::Secret(), assertion, err));
    CHECK(err.find("not a key") == std::string::npos);
}

TEST_CASE("token errors read as HTTP status, OAuth error and description")
{
    auth::TokenError e;
    e.http_status = 400;
    e.error = "invalid_grant";
    e.description = "authentication failure";
    CHECK(e.str() == "HTTP 400: invalid_grant (authentication failure)");
    e.hint = "check this";
    CHECK(e.str() == "HTTP 400: invalid_grant (authentication failure): check this");
}

TEST_CASE("an expired JWT assertion points at the host's clock, other rejections get no hint")
{
    std::string hint = auth::tokenErrorHint(config::AuthFlow::JwtBearer, "expired authorization code");
    CHECK(hint.find("clock") != std::string::npos);
    CHECK(auth::tokenErrorHint(config::AuthFlow::JwtBearer, "invalid assertion").empty());
    CHECK(auth::tokenErrorHint(config::AuthFlow::JwtBearer, "user hasn't approved this consumer").empty());
    // The web server flow's code is not ours: no clock hint for other flows.
    CHECK(auth::tokenErrorHint(config::AuthFlow::Password, "expired authorization code").empty());
}

TEST_CASE("backoff grows exponentially with jitter up to its cap")
{
    session::Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
    auto first = b.next();
    CHECK(first.count() >= 50);
    CHECK(first.count() <= 100);
    for (int i = 0; i < 10; ++i)
        b.next();
    auto late = b.next();
    CHECK(late.count() >= 500);
    CHECK(late.count() <= 1000);
    b.reset();
    CHECK(b.next().count() <= 100);
}
