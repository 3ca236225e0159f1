#pragma once
// A secret value (password, client secret, token, private key). It prints as
// <redacted> wherever it is streamed or formatted, so it cannot leak by
// accident; code that must use it calls reveal().

#include <ostream>
#include <string>
#include <utility>

namespace sfk::config {

class Secret {
public:
    Secret() = default;
    explicit Secret(std::string value) : value_(std::move(value)) {}

    const std::string &reveal() const { return value_; }
    bool empty() const { return value_.empty(); }
    bool operator==(const Secret &other) const { return value_ == other.value_; }

    friend std::ostream &operator<<(std::ostream &out, const Secret &) { return out << "<redacted>"; }

private:
    std::string value_;
};

} // namespace sfk::config
