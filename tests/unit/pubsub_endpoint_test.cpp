// validateEndpoint (core/pubsub/grpc_client.h): plaintext only to loopback,
// ports, CA files. No network.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "pubsub/grpc_client.h"

using sfk::pubsub::Endpoint;
using sfk::pubsub::validateEndpoint;

TEST_CASE("plaintext is allowed to loopback hosts only")
{
    std::string error;
    for (const char *host : {"127.0.0.1", "127.9.8.7", "::1", "[::1]", "localhost", "LocalHost"}) {
        CAPTURE(host);
        CHECK(validateEndpoint({host, 7443, true, ""}, error));
    }
    for (const char *host : {"10.1.2.3", "128.0.0.1", "api.pubsub.salesforce.com", "::2", "localhost.example.com",
                             "0.0.0.0"}) {
        CAPTURE(host);
        error.clear();
        CHECK_FALSE(validateEndpoint({host, 7443, true, ""}, error));
        CHECK(error.find("plaintext is allowed to loopback hosts only") != std::string::npos);
    }
    // TLS goes anywhere.
    CHECK(validateEndpoint({"api.pubsub.salesforce.com", 7443, false, ""}, error));
    // The client refuses what validateEndpoint refuses.
    CHECK_THROWS_AS(sfk::pubsub::Client({"10.1.2.3", 7443, true, ""}, [] { return sfk::pubsub::CallIdentity{}; }),
                    std::invalid_argument);
}

TEST_CASE("hosts, ports and CA files")
{
    std::string error;
    CHECK_FALSE(validateEndpoint({"", 7443, false, ""}, error));
    CHECK_FALSE(validateEndpoint({"localhost", 0, false, ""}, error));
    CHECK_FALSE(validateEndpoint({"localhost", 65536, false, ""}, error));
    CHECK(error.find("port 65536") != std::string::npos);

    CHECK_FALSE(validateEndpoint({"localhost", 7443, false, "/nonexistent/ca.pem"}, error));
    CHECK(error.find("cannot read the CA file /nonexistent/ca.pem") != std::string::npos);

    char path[] = "/tmp/sfk-ca-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(path) << "not a certificate\n";
    CHECK_FALSE(validateEndpoint({"localhost", 7443, false, path}, error));
    CHECK(error.find("holds no PEM certificate") != std::string::npos);
    std::ofstream(path) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    CHECK(validateEndpoint({"localhost", 7443, false, path}, error));
    std::remove(path);
}
