/* base64 through OpenSSL's EVP block coders, and percent-decoding. */
#include "core/encoding.h"

#include "core/alloc.h"
#include "core/error.h"

#include <openssl/evp.h>
#include <string.h>

int pn_base64_encode(const void *bytes, size_t length, pn_buf *out) {
  const unsigned char *input = bytes;
  unsigned char encoded[4 * 3072 / 3 + 1];
  while (length > 0) {
    size_t take = length > 3072 ? 3072 : length;
    int written = EVP_EncodeBlock(encoded, input, (int)take);
    int rc = pn_buf_append(out, encoded, (size_t)written);
    if (rc < 0)
      return rc;
    input += take;
    length -= take;
  }
  return 0;
}

static int is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

int pn_base64_decode(const char *text, size_t length, pn_buf *out) {
  /* Tolerate whitespace and missing padding, as browsers' data URIs sometimes have. */
  char *clean = pn_malloc(length + 4);
  if (!clean)
    return PN_ENOMEM;
  size_t used = 0;
  for (size_t i = 0; i < length; i++) {
    if (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')
      continue;
    if (!is_base64_char(text[i])) {
      pn_free(clean);
      return PN_EPARSE;
    }
    clean[used++] = text[i];
  }
  while (used % 4)
    clean[used++] = '=';
  size_t padding = 0;
  while (padding < used && padding < 2 && clean[used - 1 - padding] == '=')
    padding++;
  int rc = 0;
  if (used > 0) {
    unsigned char *decoded = pn_malloc(used / 4 * 3 + 1);
    if (!decoded) {
      pn_free(clean);
      return PN_ENOMEM;
    }
    int written = EVP_DecodeBlock(decoded, (unsigned char *)clean, (int)used);
    if (written < 0 || (size_t)written < padding)
      rc = PN_EPARSE;
    else
      rc = pn_buf_append(out, decoded, (size_t)written - padding);
    pn_free(decoded);
  }
  pn_free(clean);
  return rc;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int pn_percent_decode(const char *text, size_t length, int plus_is_space, pn_buf *out) {
  for (size_t i = 0; i < length; i++) {
    char c = text[i];
    if (c == '%' && i + 2 < length && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      c = (char)(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    int rc = pn_buf_append(out, &c, 1);
    if (rc < 0)
      return rc;
  }
  return 0;
}
