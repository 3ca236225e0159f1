// Salesforce's change event bitmaps: field positions as hex bitmaps.
#include <algorithm>
#include <map>

#include "schema.h"

namespace sfk::emu::pubsub {

namespace {

std::string hexBitmap(const std::vector<size_t> &bits)
{
    size_t top = 0;
    for (size_t b : bits)
        top = std::max(top, b);
    std::vector<uint8_t> bytes(top / 8 + 1, 0);
    for (size_t b : bits)
        bytes[bytes.size() - 1 - b / 8] |= static_cast<uint8_t>(1u << (b % 8));
    static const char digits[] = "0123456789ABCDEF";
    std::string out = "0x";
    for (uint8_t byte : bytes) {
        out += digits[byte >> 4];
        out += digits[byte & 15];
    }
    return out;
}

std::vector<size_t> bitsOf(std::string_view hex)
{
    std::vector<size_t> bits;
    if (hex.substr(0, 2) != "0x")
        return bits;
    hex.remove_prefix(2);
    for (size_t i = 0; i < hex.size(); ++i) {
        char c = hex[hex.size() - 1 - i];
        int nibble = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0;
        for (int b = 0; b < 4; ++b)
            if (nibble & (1 << b))
                bits.push_back(i * 4 + static_cast<size_t>(b));
    }
    return bits;
}

} // namespace

std::vector<std::string> fieldBitmaps(const std::vector<FieldDef> &fields,
                                      const std::vector<std::string> &names)
{
    std::vector<size_t> top;
    std::map<size_t, std::vector<size_t>> nested;
    for (const auto &name : names) {
        auto dot = name.find('.');
        std::string parent = dot == std::string::npos ? name : name.substr(0, dot);
        for (size_t i = 0; i < fields.size(); ++i) {
            if (fields[i].name != parent)
                continue;
            if (dot == std::string::npos) {
                top.push_back(i);
            } else {
                for (size_t c = 0; c < fields[i].children.size(); ++c)
                    if (fields[i].children[c].name == name.substr(dot + 1))
                        nested[i].push_back(c);
            }
        }
    }
    std::vector<std::string> out;
    if (!top.empty())
        out.push_back(hexBitmap(top));
    for (auto &[parent, bits] : nested)
        out.push_back(std::to_string(parent) + "-" + hexBitmap(bits));
    return out;
}

std::vector<std::string> bitmapFieldNames(const std::vector<FieldDef> &fields,
                                          const std::vector<std::string> &bitmaps)
{
    std::vector<std::string> out;
    for (const auto &bitmap : bitmaps) {
        auto dash = bitmap.find('-');
        if (dash == std::string::npos) {
            for (size_t b : bitsOf(bitmap))
                if (b < fields.size())
                    out.push_back(fields[b].name);
            continue;
        }
        size_t parent = std::stoul(bitmap.substr(0, dash));
        if (parent >= fields.size())
            continue;
        for (size_t b : bitsOf(std::string_view(bitmap).substr(dash + 1)))
            if (b < fields[parent].children.size())
                out.push_back(fields[parent].name + "." + fields[parent].children[b].name);
    }
    return out;
}

} // namespace sfk::emu::pubsub
