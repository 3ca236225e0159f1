#include <doctest/doctest.h>

#include "net/http_client.h"

using sfk::net::CookieJar;
using sfk::net::Url;

TEST_CASE("URLs parse into scheme, host, port and path")
{
    Url u;
    std::string err;
    REQUIRE(Url::parse("https://acme.my.salesforce.com", u, err));
    CHECK(u.scheme == "https");
    CHECK(u.host == "acme.my.salesforce.com");
    CHECK(u.port == 443);
    CHECK(u.path.empty());
    REQUIRE(Url::parse("http://127.0.0.1:8080/base/", u, err));
    CHECK(u.port == 8080);
    CHECK(u.path == "/base");
    CHECK(u.origin() == "http://127.0.0.1:8080");
    REQUIRE(Url::parse("http://[::1]:9000", u, err));
    CHECK(u.host == "::1");
    CHECK(u.origin() == "http://[::1]:9000");
}

TEST_CASE("bad URLs are refused with a reason")
{
    Url u;
    std::string err;
    CHECK_FALSE(Url::parse("acme.my.salesforce.com", u, err));
    CHECK_FALSE(Url::parse("ftp://host", u, err));
    CHECK(err.find("scheme") != std::string::npos);
    CHECK_FALSE(Url::parse("https://host:99999", u, err));
    CHECK_FALSE(Url::parse("https://user:pw@host", u, err));
    CHECK_FALSE(Url::parse("https://:443", u, err));
}

TEST_CASE("loopback hosts")
{
    CHECK(sfk::net::isLoopbackHost("127.0.0.1"));
    CHECK(sfk::net::isLoopbackHost("127.5.6.7"));
    CHECK(sfk::net::isLoopbackHost("localhost"));
    CHECK(sfk::net::isLoopbackHost("::1"));
    CHECK_FALSE(sfk::net::isLoopbackHost("10.0.0.1"));
    CHECK_FALSE(sfk::net::isLoopbackHost("login.salesforce.com"));
    CHECK_FALSE(sfk::net::isLoopbackHost("127.0.0.1.example.com"));
}

TEST_CASE("the cookie jar keeps name=value pairs and replaces by name")
{
    CookieJar jar;
    CHECK(jar.empty());
    jar.store("BAYEUX_BROWSER=abc123; Path=/; HttpOnly");
    jar.store("sfdc-stream=!route1; Path=/; Secure");
    CHECK(jar.header() == "BAYEUX_BROWSER=abc123; sfdc-stream=!route1");
    jar.store("sfdc-stream=!route2");
    CHECK(jar.header() == "BAYEUX_BROWSER=abc123; sfdc-stream=!route2");
    jar.store("garbage");
    jar.store("=novalue");
    CHECK(jar.header() == "BAYEUX_BROWSER=abc123; sfdc-stream=!route2");
    jar.clear();
    CHECK(jar.header().empty());
}

TEST_CASE("proxy URLs parse without ever echoing their credentials")
{
    sfk::net::Proxy p;
    std::string err;
    REQUIRE(sfk::net::Proxy::parse("http://proxy.corp:3128", p, err));
    CHECK(p.host == "proxy.corp");
    CHECK(p.port == 3128);
    CHECK(p.user.empty());
    REQUIRE(sfk::net::Proxy::parse("http://alice:pa%ss@10.1.2.3:8080/", p, err));
    CHECK(p.user == "alice");
    CHECK(p.password == "pa%ss");
    CHECK(p.port == 8080);
    CHECK_FALSE(sfk::net::Proxy::parse("https://proxy:3128", p, err));
    CHECK_FALSE(sfk::net::Proxy::parse("http://bob:hunter2@proxy", p, err));
    CHECK(err.find("hunter2") == std::string::npos);
    CHECK_FALSE(sfk::net::Proxy::parse("http://proxy:3128/path", p, err));
}

TEST_CASE("HTTPS_PROXY applies unless NO_PROXY matches or the target is loopback")
{
    sfk::net::Proxy p;
    std::string err;
    ::setenv("HTTPS_PROXY", "http://proxy.corp:3128", 1);
    ::setenv("NO_PROXY", "internal.example, .corp.example", 1);
    CHECK(sfk::net::Proxy::forTarget("acme.my.salesforce.com", "", p, err));
    CHECK(p.host == "proxy.corp");
    CHECK_FALSE(sfk::net::Proxy::forTarget("internal.example", "", p, err));
    CHECK_FALSE(sfk::net::Proxy::forTarget("api.corp.example", "", p, err));
    CHECK(sfk::net::Proxy::forTarget("corp.example.org", "", p, err));
    CHECK_FALSE(sfk::net::Proxy::forTarget("127.0.0.1", "", p, err));
    // A configured proxy wins over the environment, loopback included.
    CHECK(sfk::net::Proxy::forTarget("127.0.0.1", "http://127.0.0.1:9999", p, err));
    CHECK(p.port == 9999);
    ::unsetenv("HTTPS_PROXY");
    ::unsetenv("NO_PROXY");
    CHECK_FALSE(sfk::net::Proxy::forTarget("acme.my.salesforce.com", "", p, err));
}
