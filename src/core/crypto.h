/* Hashes, HMAC and random bytes. libcrypto (OpenSSL) does the hashing, loaded with
 * dlopen on first use as libcurl is (core/curl_api.c): linking it would add to every
 * start of the binary, and only the hub and `pinion push` hash anything. Random bytes
 * come from getrandom(2). */
#ifndef PN_CORE_CRYPTO_H
#define PN_CORE_CRYPTO_H

#include <stddef.h>

/* Writes the lowercase hex SHA-256 of `bytes` into `hex` (65 bytes with the NUL).
 * PN_EUNSUPPORTED when libcrypto cannot be loaded. */
int pn_crypto_sha256_hex(const void *bytes, size_t length, char hex[65]);
/* The same for MD5 (33 bytes with the NUL). */
int pn_crypto_md5_hex(const void *bytes, size_t length, char hex[33]);
/* HMAC-SHA256 of `message` under `key`, 32 bytes into `out`. */
int pn_crypto_hmac_sha256(const void *key, size_t key_length, const void *message,
                          size_t message_length, unsigned char out[32]);
/* Fills `out` with cryptographically random bytes. */
int pn_crypto_random(void *out, size_t length);
/* 1 when the `length` bytes at `a` and `b` are equal, else 0, in a time that does not
 * depend on where they differ (for comparing secrets). */
int pn_crypto_equal(const void *a, const void *b, size_t length);
/* Why libcrypto could not be loaded (static text), or NULL. */
const char *pn_crypto_error(void);

#endif
