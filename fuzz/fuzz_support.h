#pragma once
// Helpers shared by the fuzz targets: a buffer with the decoder's padding
// and a check that aborts (libFuzzer then records the input as a crash).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "decode/batch_decoder.h"

namespace sfk::fuzz {

// The input copied into an allocation of exactly size + kPadding bytes, so
// that AddressSanitizer catches a read past the padding the decoder is
// promised (a std::string's spare capacity would hide it).
class PaddedInput {
public:
    PaddedInput(const uint8_t *data, size_t size)
        : size_(size), bytes_(new char[size + decode::BatchDecoder::kPadding])
    {
        if (size)
            std::memcpy(bytes_.get(), data, size);
        std::memset(bytes_.get() + size, 0, decode::BatchDecoder::kPadding);
    }
    std::string_view view() const { return { bytes_.get(), size_ }; }
    bool contains(std::string_view part) const
    {
        return part.data() >= bytes_.get() && part.data() + part.size() <= bytes_.get() + size_;
    }

private:
    size_t size_;
    std::unique_ptr<char[]> bytes_;
};

// A new 2048-bit RSA key as PEM: the private key, or only its public half.
inline std::string rsaKeyPem(bool public_only)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    if (public_only)
        PEM_write_bio_PUBKEY(bio, key);
    else
        PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char *data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(key);
    return pem;
}

[[noreturn]] inline void fail(const char *what, const char *file, int line)
{
    std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    std::abort();
}

} // namespace sfk::fuzz

#define FUZZ_CHECK(cond)                                     \
    do {                                                     \
        if (!(cond))                                         \
            ::sfk::fuzz::fail(#cond, __FILE__, __LINE__);    \
    } while (0)
