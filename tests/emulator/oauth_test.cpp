// sfemu over HTTP: the OAuth token endpoint (password, refresh token,
// client credentials, JWT bearer), expiry and revocation.
#include <doctest/doctest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <thread>

#include "sfemu_process.h"
#include "sfemu_test_client.h"

using namespace sfk::test;
using namespace sfk::test::emu;

namespace {

struct KeyPair {
    std::string private_pem;
    std::string certificate_pem;
};

KeyPair makeKeyPair()
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    REQUIRE(key);
    X509 *cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("sfemu-test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    auto toString = [](BIO *bio) {
        char *data = nullptr;
        long n = BIO_get_mem_data(bio, &data);
        std::string s(data, static_cast<size_t>(n));
        BIO_free(bio);
        return s;
    };
    BIO *kb = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
    BIO *cb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, cert);
    KeyPair kp{toString(kb), toString(cb)};
    X509_free(cert);
    EVP_PKEY_free(key);
    return kp;
}

std::string signJwt(const std::string &private_pem, const std::string &iss, const std::string &sub,
                    const std::string &aud, long exp, jwt_alg_t alg = JWT_ALG_RS256, long nbf = 0)
{
    jwt_t *jwt = nullptr;
    jwt_new(&jwt);
    jwt_add_grant(jwt, "iss", iss.c_str());
    jwt_add_grant(jwt, "sub", sub.c_str());
    jwt_add_grant(jwt, "aud", aud.c_str());
    jwt_add_grant_int(jwt, "exp", exp);
    if (nbf)
        jwt_add_grant_int(jwt, "nbf", nbf);
    if (alg == JWT_ALG_HS256)
        jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char *>("secretsecretsecretsecretsecret12"), 32);
    else
        jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char *>(private_pem.data()),
                    static_cast<int>(private_pem.size()));
    char *out = jwt_encode_str(jwt);
    std::string s = out ? out : "";
    free(out);
    jwt_free(jwt);
    return s;
}

std::string indent(const std::string &pem)
{
    std::string out;
    size_t pos = 0;
    while (pos < pem.size()) {
        size_t nl = pem.find('\n', pos);
        if (nl == std::string::npos)
            nl = pem.size();
        out += "          " + pem.substr(pos, nl - pos) + "\n";
        pos = nl + 1;
    }
    return out;
}

void checkError(const Reply &r, int status, const char *error, const char *description)
{
    CHECK(r.status == status);
    Json j(r.body);
    REQUIRE(j.ok);
    CHECK(str(j.root, "error") == error);
    CHECK(str(j.root, "error_description") == description);
}

// One org whose app jwt-app trusts kp's certificate, user jwt@example.com.
std::string jwtOrgYaml(const KeyPair &kp)
{
    return R"(
orgs:
  - name: jwtorg
    org_id: 00D000000000077AAA
    users:
      - {username: jwt@example.com}
    apps:
      - client_id: jwt-app
        certificate: |
)" + indent(kp.certificate_pem) + R"(
    channels: [/event/Order__e]
)";
}

Reply jwtRequest(const SfemuProcess &emu, const std::string &assertion)
{
    return tokenRequest(emu.url(), {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                                    {"assertion", assertion}});
}

long nowSeconds()
{
    return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

} // namespace

TEST_CASE("password flow: success body and Salesforce's error bodies")
{
    auto emu = SfemuProcess::start();
    Reply ok = tokenRequest(emu.url(), {{"grant_type", "password"}, {"client_id", "sfemu-client"},
                                        {"client_secret", "sfemu-secret"},
                                        {"username", "user@example.com"}, {"password", "password"}});
    REQUIRE(ok.status == 200);
    Json j(ok.body);
    REQUIRE(j.ok);
    std::string token = str(j.root, "access_token");
    CHECK(token.rfind("00D000000000001AAA!", 0) == 0);
    CHECK(str(j.root, "instance_url") == emu.url());
    CHECK(str(j.root, "id") == emu.url() + "/id/00D000000000001AAA/005000000000001AAA");
    CHECK(str(j.root, "token_type") == "Bearer");
    CHECK(!str(j.root, "issued_at").empty());
    CHECK(!str(j.root, "signature").empty());

    checkError(tokenRequest(emu.url(), {{"grant_type", "password"}, {"client_id", "sfemu-client"},
                                        {"client_secret", "sfemu-secret"},
                                        {"username", "user@example.com"}, {"password", "wrong"}}),
               400, "invalid_grant", "authentication failure");
    checkError(tokenRequest(emu.url(), {{"grant_type", "password"}, {"client_id", "sfemu-client"},
                                        {"client_secret", "nope"},
                                        {"username", "user@example.com"}, {"password", "password"}}),
               400, "invalid_client", "invalid client credentials");
    checkError(tokenRequest(emu.url(), {{"grant_type", "password"}, {"client_id", "who"},
                                        {"client_secret", "sfemu-secret"},
                                        {"username", "user@example.com"}, {"password", "password"}}),
               400, "invalid_client_id", "client identifier invalid");
    checkError(tokenRequest(emu.url(), {{"grant_type", "authorization_code"}}), 400,
               "unsupported_grant_type", "grant type not supported");
    checkError(tokenRequest(emu.url(), {}), 400, "unsupported_grant_type", "grant type not supported");
}

TEST_CASE("refresh token and client credentials flows")
{
    auto emu = SfemuProcess::start(R"(
orgs:
  - name: acme
    org_id: 00D000000000042AAA
    users:
      - {username: integration@acme.com, password: pw}
    apps:
      - {client_id: acme-app, client_secret: acme-secret, run_as: integration@acme.com}
      - {client_id: no-cc-app, client_secret: s2}
    refresh_tokens:
      - {token: rt-1, client_id: acme-app, username: integration@acme.com}
    channels: [/topic/Acme]
)");
    Reply r = tokenRequest(emu.url(), {{"grant_type", "refresh_token"}, {"client_id", "acme-app"},
                                       {"client_secret", "acme-secret"}, {"refresh_token", "rt-1"}});
    CHECK(r.status == 200);
    CHECK(str(Json(r.body).root, "access_token").rfind("00D000000000042AAA!", 0) == 0);
    checkError(tokenRequest(emu.url(), {{"grant_type", "refresh_token"}, {"client_id", "acme-app"},
                                        {"client_secret", "acme-secret"}, {"refresh_token", "bad"}}),
               400, "invalid_grant", "expired access/refresh token");

    r = tokenRequest(emu.url(), {{"grant_type", "client_credentials"}, {"client_id", "acme-app"},
                                 {"client_secret", "acme-secret"}});
    CHECK(r.status == 200);
    CHECK(str(Json(r.body).root, "id").find("/id/00D000000000042AAA/") != std::string::npos);
    checkError(tokenRequest(emu.url(), {{"grant_type", "client_credentials"}, {"client_id", "no-cc-app"},
                                        {"client_secret", "s2"}}),
               400, "invalid_grant", "no client credentials user enabled");

    // Revoking the refresh token through /services/oauth2/revoke.
    auto c = httpClient(emu.url());
    auto rv = c->Post("/services/oauth2/revoke", "token=rt-1", "application/x-www-form-urlencoded");
    REQUIRE(rv);
    CHECK(rv->status == 200);
    checkError(tokenRequest(emu.url(), {{"grant_type", "refresh_token"}, {"client_id", "acme-app"},
                                        {"client_secret", "acme-secret"}, {"refresh_token", "rt-1"}}),
               400, "invalid_grant", "expired access/refresh token");
}

TEST_CASE("JWT bearer flow verifies RS256 signature, iss, sub, aud, exp and nbf")
{
    KeyPair kp = makeKeyPair();
    KeyPair other = makeKeyPair();
    auto emu = SfemuProcess::start(jwtOrgYaml(kp));
    auto request = [&](const std::string &assertion) { return jwtRequest(emu, assertion); };
    long exp = nowSeconds() + 180;
    Reply ok = request(signJwt(kp.private_pem, "jwt-app", "jwt@example.com", "https://login.salesforce.com", exp));
    CHECK(ok.status == 200);
    Json j(ok.body);
    CHECK(str(j.root, "access_token").rfind("00D000000000077AAA!", 0) == 0);
    CHECK(str(j.root, "instance_url") == emu.url());
    // sfemu's own URL is an accepted audience too.
    CHECK(request(signJwt(kp.private_pem, "jwt-app", "jwt@example.com", emu.url(), exp)).status == 200);

    checkError(request(signJwt(other.private_pem, "jwt-app", "jwt@example.com", "https://login.salesforce.com", exp)),
               400, "invalid_grant", "invalid assertion");
    checkError(request(signJwt(kp.private_pem, "jwt-app", "jwt@example.com", "https://evil.example.com", exp)),
               400, "invalid_grant", "audience is invalid");
    checkError(request(signJwt(kp.private_pem, "jwt-app", "jwt@example.com", "https://login.salesforce.com",
                               nowSeconds() - 10)),
               400, "invalid_grant", "expired authorization code");
    checkError(request(signJwt(kp.private_pem, "jwt-app", "jwt@example.com", "https://login.salesforce.com", exp,
                               JWT_ALG_RS256, nowSeconds() + 60)),
               400, "invalid_grant", "expired authorization code");
    checkError(request(signJwt(kp.private_pem, "jwt-app", "nobody@example.com", "https://login.salesforce.com", exp)),
               400, "invalid_grant", "invalid assertion");
    checkError(request(signJwt(kp.private_pem, "other-app", "jwt@example.com", "https://login.salesforce.com", exp)),
               400, "invalid_client_id", "client identifier invalid");
    checkError(request(signJwt(kp.private_pem, "jwt-app", "jwt@example.com", "https://login.salesforce.com", exp,
                               JWT_ALG_HS256)),
               400, "invalid_grant", "invalid assertion");
    checkError(request("not-a-jwt"), 400, "invalid_grant", "invalid assertion");
}

TEST_CASE("clock_skew shifts the clock that judges assertions; seconds 0 or clear undo it")
{
    KeyPair kp = makeKeyPair();
    auto emu = SfemuProcess::start(jwtOrgYaml(kp));
    const std::string aud = "https://login.salesforce.com";
    std::string fresh = signJwt(kp.private_pem, "jwt-app", "jwt@example.com", aud, nowSeconds() + 180);
    auto faults = [&] {
        auto res = httpClient(emu.adminUrl())->Get("/admin/orgs/jwtorg/faults");
        REQUIRE(res);
        return res->body;
    };
    CHECK(faults().find("\"clock_skew_seconds\":0") != std::string::npos);
    CHECK(jwtRequest(emu, fresh).status == 200);

    // sfemu's clock 10 minutes ahead: the client's assertion has expired.
    emu.arm("jwtorg", R"({"fault":"clock_skew","seconds":600})");
    CHECK(faults().find("\"clock_skew_seconds\":600") != std::string::npos);
    checkError(jwtRequest(emu, fresh), 400, "invalid_grant", "expired authorization code");
    emu.arm("jwtorg", R"({"fault":"clock_skew","seconds":0})");
    CHECK(jwtRequest(emu, fresh).status == 200);

    // Behind: an assertion valid only from a minute on is accepted ahead of time.
    std::string later = signJwt(kp.private_pem, "jwt-app", "jwt@example.com", aud, nowSeconds() + 180,
                                JWT_ALG_RS256, nowSeconds() + 60);
    checkError(jwtRequest(emu, later), 400, "invalid_grant", "expired authorization code");
    emu.arm("jwtorg", R"({"fault":"clock_skew","seconds":120})");
    CHECK(jwtRequest(emu, later).status == 200);

    // clear undoes the skew with the armed faults.
    emu.arm("jwtorg", R"({"fault":"clock_skew","seconds":-600})");
    checkError(jwtRequest(emu, later), 400, "invalid_grant", "expired authorization code");
    emu.arm("jwtorg", R"({"fault":"clear"})");
    CHECK(faults().find("\"clock_skew_seconds\":0") != std::string::npos);
    CHECK(jwtRequest(emu, fresh).status == 200);

    CHECK_THROWS(emu.arm("jwtorg", R"({"fault":"clock_skew"})"));
    CHECK_THROWS(emu.arm("jwtorg", R"({"fault":"clock_skew","seconds":"600"})"));
    CHECK_THROWS(emu.arm("jwtorg", R"({"fault":"clock_skew","seconds":1000000000000})"));
}

TEST_CASE("expired and revoked tokens get what Salesforce gives")
{
    auto emu = SfemuProcess::start("token_lifetime_seconds: 1\nconnect_hold_ms: 200\n");
    std::string token = passwordToken(emu.url());
    BayeuxTestClient client(emu.url(), token);
    Json hs = client.handshake();
    REQUIRE(boolean(hs[0], "successful"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));

    // connect: 401::Authentication invalid with reconnect none and the clientId.
    Json c = client.connect();
    REQUIRE(c.size() == 1);
    CHECK(str(c[0], "channel") == "/meta/connect");
    CHECK_FALSE(boolean(c[0], "successful"));
    CHECK(str(c[0], "error") == "401::Authentication invalid");
    CHECK(str(c[0], "clientId") == client.clientId());
    CHECK(str(c[0]["advice"], "reconnect") == "none");

    // handshake: 403::Handshake denied with the failure reason.
    hs = client.handshake();
    REQUIRE(hs.size() == 1);
    CHECK_FALSE(boolean(hs[0], "successful"));
    CHECK(str(hs[0], "error") == "403::Handshake denied");
    CHECK(str(hs[0]["ext"]["sfdc"], "failureReason") == "401::Authentication invalid");
    CHECK(str(hs[0]["advice"], "reconnect") == "none");
    CHECK(str(hs[0], "id") == "3");

    // Non-Bayeux paths: HTTP 401 INVALID_SESSION_ID.
    auto http = httpClient(emu.url());
    auto res = http->Get("/services/data/v62.0/sobjects", {{"Authorization", "Bearer " + token}});
    REQUIRE(res);
    CHECK(res->status == 401);
    CHECK(res->body == R"([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])");
}

TEST_CASE("admin revoke_tokens revokes every token of the org")
{
    auto emu = SfemuProcess::start("connect_hold_ms: 200\n");
    std::string token = passwordToken(emu.url());
    BayeuxTestClient client(emu.url(), token);
    REQUIRE(boolean(client.handshake()[0], "successful"));
    REQUIRE(boolean(client.connect()[0], "successful"));
    emu.arm("default", R"({"fault":"revoke_tokens"})");
    Json c = client.connect();
    CHECK(str(c[0], "error") == "401::Authentication invalid");
    // A fresh token works again.
    client.setToken(passwordToken(emu.url()));
    CHECK(boolean(client.handshake()[0], "successful"));

    // /services/oauth2/revoke revokes one access token.
    std::string t2 = passwordToken(emu.url());
    auto http = httpClient(emu.url());
    auto rv = http->Post("/services/oauth2/revoke", "token=" + t2, "application/x-www-form-urlencoded");
    REQUIRE(rv);
    CHECK(rv->status == 200);
    BayeuxTestClient c2(emu.url(), t2);
    CHECK(str(c2.handshake()[0], "error") == "403::Handshake denied");
}

TEST_CASE("a token fault answers the next token request")
{
    auto emu = SfemuProcess::start();
    emu.arm("default", R"({"fault":"http_503","match":"token","count":1})");
    Reply r = tokenRequest(emu.url(), {{"grant_type", "password"}, {"client_id", "sfemu-client"},
                                       {"client_secret", "sfemu-secret"},
                                       {"username", "user@example.com"}, {"password", "password"}});
    CHECK(r.status == 503);
    CHECK_NOTHROW(passwordToken(emu.url()));
}
