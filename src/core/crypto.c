/* Hashing through libcrypto loaded on demand, random bytes from the kernel. See
 * crypto.h. Only the handful of EVP/HMAC entry points below are used, declared here
 * with opaque pointers so that no OpenSSL header (or its deprecations) is needed. */
#include "core/crypto.h"

#include "core/error.h"

#include <dlfcn.h>
#include <stdio.h>
#include <sys/random.h>
#include <errno.h>

typedef struct crypto_api {
  const void *(*sha256)(void);
  const void *(*md5)(void);
  int (*digest)(const void *data, size_t count, unsigned char *md, unsigned int *size,
                const void *type, void *engine);
  unsigned char *(*hmac)(const void *md, const void *key, int key_length, const unsigned char *data,
                         size_t data_length, unsigned char *out, unsigned int *out_length);
} crypto_api;

static crypto_api api;
static int loaded;
static const char *load_error;

static const crypto_api *load(void) {
  if (loaded)
    return load_error ? NULL : &api;
  loaded = 1;
  void *library = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  if (!library)
    library = dlopen("libcrypto.so", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    load_error = "libcrypto.so.3 could not be loaded: install libssl3 (apt-get install libssl3)";
    return NULL;
  }
  *(void **)&api.sha256 = dlsym(library, "EVP_sha256");
  *(void **)&api.md5 = dlsym(library, "EVP_md5");
  *(void **)&api.digest = dlsym(library, "EVP_Digest");
  *(void **)&api.hmac = dlsym(library, "HMAC");
  if (!api.sha256 || !api.md5 || !api.digest || !api.hmac) {
    load_error = "libcrypto lacks EVP_Digest, EVP_sha256, EVP_md5 or HMAC";
    return NULL;
  }
  return &api;
}

const char *pn_crypto_error(void) {
  load();
  return load_error;
}

static void to_hex(const unsigned char *bytes, size_t length, char *hex) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < length; i++) {
    hex[2 * i] = digits[bytes[i] >> 4];
    hex[2 * i + 1] = digits[bytes[i] & 15];
  }
  hex[2 * length] = '\0';
}

static int digest_hex(int md5, const void *bytes, size_t length, char *hex) {
  const crypto_api *crypto = load();
  if (!crypto)
    return PN_EUNSUPPORTED;
  unsigned char out[64];
  unsigned int size = 0;
  if (!crypto->digest(bytes, length, out, &size, md5 ? crypto->md5() : crypto->sha256(), NULL))
    return PN_EIO;
  to_hex(out, size, hex);
  return 0;
}

int pn_crypto_sha256_hex(const void *bytes, size_t length, char hex[65]) {
  return digest_hex(0, bytes, length, hex);
}

int pn_crypto_md5_hex(const void *bytes, size_t length, char hex[33]) {
  return digest_hex(1, bytes, length, hex);
}

int pn_crypto_hmac_sha256(const void *key, size_t key_length, const void *message,
                          size_t message_length, unsigned char out[32]) {
  const crypto_api *crypto = load();
  if (!crypto)
    return PN_EUNSUPPORTED;
  unsigned int size = 0;
  if (!crypto->hmac(crypto->sha256(), key, (int)key_length, message, message_length, out, &size) ||
      size != 32)
    return PN_EIO;
  return 0;
}

int pn_crypto_equal(const void *a, const void *b, size_t length) {
  const volatile unsigned char *left = a, *right = b;
  unsigned char difference = 0;
  for (size_t i = 0; i < length; i++)
    difference |= (unsigned char)(left[i] ^ right[i]);
  return difference == 0;
}

int pn_crypto_random(void *out, size_t length) {
  unsigned char *at = out;
  while (length) {
    ssize_t got = getrandom(at, length, 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return PN_EIO;
    }
    at += got;
    length -= (size_t)got;
  }
  return 0;
}
