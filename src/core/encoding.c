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

/* The length of the valid UTF-8 sequence at `text`, or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *text, size_t length) {
  unsigned char lead = text[0];
  size_t need;
  unsigned min;
  unsigned code;
  if (lead < 0x80)
    return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
    min = 0x80;
    code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    min = 0x800;
    code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    min = 0x10000;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (length < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((text[i] & 0xC0) != 0x80)
      return 0;
    code = code << 6 | (text[i] & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
    return 0;
  return need;
}

int pn_utf8_sanitize(const char *text, size_t length, pn_buf *out) {
  const unsigned char *bytes = (const unsigned char *)text;
  size_t start = 0, i = 0;
  while (i < length) {
    size_t step = utf8_sequence(bytes + i, length - i);
    if (step) {
      i += step;
      continue;
    }
    int rc = pn_buf_append(out, text + start, i - start);
    if (rc == 0)
      rc = pn_buf_append(out, "\xEF\xBF\xBD", 3);
    if (rc < 0)
      return rc;
    i++;
    start = i;
  }
  return pn_buf_append(out, text + start, i - start);
}

size_t pn_utf8_complete_length(const char *text, size_t length) {
  const unsigned char *bytes = (const unsigned char *)text;
  for (size_t back = 1; back <= 3 && back <= length; back++) {
    unsigned char c = bytes[length - back];
    if ((c & 0xC0) == 0x80)
      continue; /* a continuation byte: keep looking for the lead */
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? length - back : length;
  }
  return length;
}
