#pragma once
// OAuth 2.0 token requests against Salesforce's token endpoint, one flow per
// org. Secrets leave this class only inside the request body.

#include <memory>
#include <string>

#include "config/config.h"
#include "net/http_client.h"

namespace sfk::auth {

struct Token {
    config::Secret access_token;
    std::string instance_url;
    std::string org_id;   // from the identity URL's second-to-last segment
};

struct TokenError {
    int http_status = 0;      // 0: no HTTP answer (network error)
    std::string error;        // OAuth "error", or a transport error text
    std::string description;  // OAuth "error_description" (safe to log)
    // A network or 5xx failure, worth retrying soon; an OAuth rejection
    // (invalid_grant, invalid_client...) needs a long backoff.
    bool transient = false;
    std::string hint;         // what to check, when the error has one likely cause

    std::string str() const;
};

// The hint for an OAuth rejection, or "" (see TokenError::hint).
std::string tokenErrorHint(config::AuthFlow flow, const std::string &description);

class TokenProvider {
public:
    explicit TokenProvider(const config::Org &org);
    ~TokenProvider();

    // One token request (blocking).
    bool fetch(Token &out, TokenError &err);
    // Aborts a request in progress (shutdown).
    void stop();

    // The form body for the configured flow; exposed for unit tests.
    bool buildRequestBody(std::string &body, std::string &error) const;

private:
    const config::Org org_;
    net::Url login_;
    std::unique_ptr<net::HttpClient> http_;
    std::string urlError_;
};

std::string urlEncode(const std::string &s);

} // namespace sfk::auth
