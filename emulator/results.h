#pragma once
// Small builders of HttpResult shared by the OAuth, Bayeux and admin code.

#include <string>

#include "emulator.h"
#include "util.h"

namespace sfk::emu {

inline HttpResult jsonResult(int status, std::string body)
{
    HttpResult r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

inline HttpResult adminError(int status, const std::string &message)
{
    return jsonResult(status, "{\"error\":" + jsonString(message) + "}");
}

} // namespace sfk::emu
