#include "pubsub/bitmap.h"

namespace sfk::pubsub {

namespace {

int hexDigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Calls add(i) for every set bit of "0x...", lowest first.
template <typename Add>
bool forEachBit(std::string_view hex, std::string_view whole, std::string &error, Add add)
{
    // An empty element, or "0x" alone, names no field (Salesforce may leave
    // the top-level element empty when only nested fields are listed).
    if (hex.empty() || hex == "0x")
        return true;
    if (hex.size() < 3 || hex[0] != '0' || hex[1] != 'x') {
        error = "bitmap \"" + std::string(whole) + "\" is not 0x followed by hex digits";
        return false;
    }
    hex.remove_prefix(2);
    for (size_t i = 0; i < hex.size(); ++i) {
        int nibble = hexDigit(hex[hex.size() - 1 - i]);
        if (nibble < 0) {
            error = "bitmap \"" + std::string(whole) + "\" is not 0x followed by hex digits";
            return false;
        }
        for (size_t b = 0; b < 4; ++b)
            if ((nibble >> b) & 1)
                if (!add(i * 4 + b))
                    return false;
    }
    return true;
}

} // namespace

bool expandBitmap(const SchemaNode &record, std::string_view bitmap, std::vector<std::string> &names,
                  std::string &error)
{
    auto dash = bitmap.find('-');
    if (dash == std::string_view::npos) {
        return forEachBit(bitmap, bitmap, error, [&](size_t bit) {
            if (bit >= record.fields.size()) {
                error = "bitmap \"" + std::string(bitmap) + "\" names field " + std::to_string(bit) +
                        " of a record with " + std::to_string(record.fields.size());
                return false;
            }
            names.push_back(record.fields[bit].name);
            return true;
        });
    }
    std::string_view position = bitmap.substr(0, dash);
    size_t parent = 0;
    bool digits = !position.empty() && position.size() <= 9;
    for (char c : position) {
        digits = digits && c >= '0' && c <= '9';
        parent = parent * 10 + static_cast<size_t>(c - '0');
    }
    if (!digits) {
        error = "bitmap \"" + std::string(bitmap) + "\" has no field position before '-'";
        return false;
    }
    const SchemaNode *compound = parent < record.fields.size() ? recordOf(*record.fields[parent].node) : nullptr;
    if (!compound) {
        error = "bitmap \"" + std::string(bitmap) + "\" names field " + std::to_string(parent) +
                ", which is not a compound field";
        return false;
    }
    const std::string &prefix = record.fields[parent].name;
    return forEachBit(bitmap.substr(dash + 1), bitmap, error, [&](size_t bit) {
        if (bit >= compound->fields.size()) {
            error = "bitmap \"" + std::string(bitmap) + "\" names child " + std::to_string(bit) + " of " +
                    prefix + ", which has " + std::to_string(compound->fields.size());
            return false;
        }
        names.push_back(prefix + "." + compound->fields[bit].name);
        return true;
    });
}

} // namespace sfk::pubsub
