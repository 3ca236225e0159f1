#include <doctest/doctest.h>

#include "log/log.h"

TEST_CASE("log levels parse from their names")
{
    sfk::log::Level l{};
    CHECK(sfk::log::parseLevel("debug", l));
    CHECK(l == sfk::log::Level::Debug);
    CHECK(sfk::log::parseLevel("warning", l));
    CHECK(l == sfk::log::Level::Warn);
    CHECK_FALSE(sfk::log::parseLevel("loud", l));
}

TEST_CASE("setLevel filters lower levels")
{
    sfk::log::setLevel(sfk::log::Level::Error);
    CHECK(sfk::log::level() == sfk::log::Level::Error);
    sfk::log::setLevel(sfk::log::Level::Info);
}
