#include "pubsub/encoding_check.h"

#include <cstdint>

namespace sfk::pubsub {

namespace {

class Checker {
public:
    Checker(std::string_view bytes, std::string &error) : bytes_(bytes), error_(error) {}

    bool value(const SchemaNode &node, int depth)
    {
        if (depth > kMaxNesting)
            return fail("nested deeper than " + std::to_string(kMaxNesting) + " levels");
        switch (node.type) {
        case AVRO_NULL: return true;
        case AVRO_BOOLEAN: {
            if (!need(1))
                return false;
            uint8_t b = static_cast<uint8_t>(bytes_[pos_]);
            if (b > 1)
                return fail("invalid boolean byte at byte " + std::to_string(pos_));
            ++pos_;
            return true;
        }
        case AVRO_INT32: {
            int64_t n = 0;
            if (!varint(n))
                return false;
            if (n < INT32_MIN || n > INT32_MAX)
                return fail("int out of range before byte " + std::to_string(pos_));
            return true;
        }
        case AVRO_INT64: {
            int64_t n = 0;
            return varint(n);
        }
        case AVRO_FLOAT: return skip(4);
        case AVRO_DOUBLE: return skip(8);
        case AVRO_STRING:
        case AVRO_BYTES: return lengthPrefixed();
        case AVRO_FIXED: return skip(static_cast<size_t>(node.fixed_size));
        case AVRO_ENUM: {
            int64_t n = 0;
            if (!varint(n))
                return false;
            if (n < 0 || static_cast<uint64_t>(n) >= node.symbols.size())
                return fail("enum index " + std::to_string(n) + " out of range");
            return true;
        }
        case AVRO_UNION: {
            int64_t n = 0;
            if (!varint(n))
                return false;
            if (n < 0 || static_cast<uint64_t>(n) >= node.branches.size())
                return fail("union branch " + std::to_string(n) + " out of range");
            return value(*node.branches[static_cast<size_t>(n)], depth + 1);
        }
        case AVRO_RECORD:
            for (const SchemaField &f : node.fields)
                if (!value(*f.node, depth + 1))
                    return false;
            return true;
        case AVRO_ARRAY:
        case AVRO_MAP: return blocks(node, depth);
        default: return fail("unsupported schema type");
        }
    }

    bool end()
    {
        if (pos_ != bytes_.size())
            return fail(std::to_string(bytes_.size() - pos_) + " bytes after the record");
        return true;
    }

private:
    bool fail(std::string why)
    {
        error_ = std::move(why);
        return false;
    }
    bool need(size_t n)
    {
        if (bytes_.size() - pos_ < n)
            return fail("truncated at byte " + std::to_string(pos_));
        return true;
    }
    bool skip(size_t n)
    {
        if (!need(n))
            return false;
        pos_ += n;
        return true;
    }
    // Avro's zig-zag varint, at most 10 bytes.
    bool varint(int64_t &out)
    {
        uint64_t v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (!need(1))
                return false;
            uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) {
                out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
                return true;
            }
        }
        return fail("varint longer than 10 bytes before byte " + std::to_string(pos_));
    }
    bool lengthPrefixed(std::string_view *content = nullptr)
    {
        int64_t n = 0;
        if (!varint(n))
            return false;
        if (n < 0)
            return fail("negative length before byte " + std::to_string(pos_));
        size_t start = pos_;
        if (!skip(static_cast<size_t>(n)))
            return false;
        if (content)
            *content = bytes_.substr(start, pos_ - start);
        return true;
    }
    bool blocks(const SchemaNode &node, int depth)
    {
        for (;;) {
            int64_t count = 0;
            if (!varint(count))
                return false;
            if (count == 0)
                return true;
            if (count < 0) {
                if (count == INT64_MIN)
                    return fail("invalid block count");
                count = -count;
                int64_t block_bytes = 0;
                if (!varint(block_bytes))
                    return false;
            }
            // Items of zero bytes (nulls, empty records) are limited to as
            // many as bytes remain: avro-c appends every one of them.
            size_t item_bytes = node.items->min_bytes + (node.type == AVRO_MAP ? 1 : 0);
            uint64_t left = bytes_.size() - pos_;
            if (static_cast<uint64_t>(count) > (item_bytes ? left / item_bytes : left + 1))
                return fail("block of " + std::to_string(count) + " items longer than the payload");
            for (int64_t i = 0; i < count; ++i) {
                if (node.type == AVRO_MAP) {
                    std::string_view key;
                    if (!lengthPrefixed(&key))
                        return false;
                    // avro-c keeps map keys as C strings: one with a NUL
                    // would come out cut short.
                    if (key.find('\0') != std::string_view::npos)
                        return fail("map key with a NUL byte");
                }
                if (!value(*node.items, depth + 1))
                    return false;
            }
        }
    }

    std::string_view bytes_;
    size_t pos_ = 0;
    std::string &error_;
};

} // namespace

bool checkEncoding(const SchemaNode &root, std::string_view bytes, std::string &error)
{
    Checker c(bytes, error);
    return c.value(root, 0) && c.end();
}

} // namespace sfk::pubsub
