/* base64, data URIs, percent-decoding and UTF-8 repair. */
#include "core/encoding.h"

#include "core/alloc.h"
#include "core/error.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Every 12-bit value as its two base64 characters, as they lie in memory: one lookup
 * per two characters. */
static uint16_t pairs[4096];
static pthread_once_t pairs_once = PTHREAD_ONCE_INIT;

static void build_pairs(void) {
  for (unsigned value = 0; value < 4096; value++) {
    char two[2] = {alphabet[value >> 6], alphabet[value & 63]};
    memcpy(&pairs[value], two, 2);
  }
}

/* Encodes whole 6-byte groups while 8 bytes can be loaded; returns the bytes used. */
static size_t encode_groups(const unsigned char *in, size_t length, char *at) {
  size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  pthread_once(&pairs_once, build_pairs);
  for (; i + 8 <= length; i += 6) {
    uint64_t value;
    memcpy(&value, in + i, 8);
    value = __builtin_bswap64(value);
    uint64_t chars = (uint64_t)pairs[(value >> 52) & 4095] |
                     (uint64_t)pairs[(value >> 40) & 4095] << 16 |
                     (uint64_t)pairs[(value >> 28) & 4095] << 32 |
                     (uint64_t)pairs[(value >> 16) & 4095] << 48;
    memcpy(at, &chars, 8);
    at += 8;
  }
#endif
  return i;
}

int pn_base64_encode(const void *bytes, size_t length, pn_buf *out) {
  size_t encoded = (length + 2) / 3 * 4;
  /* Reserve once, then write in place: data URIs of large files are the hot case. */
  int rc = pn_buf_reserve(out, encoded);
  if (rc < 0)
    return rc;
  const unsigned char *in = bytes;
  char *at = out->data + out->length;
  size_t i = encode_groups(in, length, at);
  at += i / 3 * 4;
  for (; i + 3 <= length; i += 3) {
    unsigned value = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    *at++ = alphabet[value >> 18];
    *at++ = alphabet[(value >> 12) & 63];
    *at++ = alphabet[(value >> 6) & 63];
    *at++ = alphabet[value & 63];
  }
  if (i < length) {
    unsigned value = (unsigned)in[i] << 16 | (i + 1 < length ? (unsigned)in[i + 1] << 8 : 0);
    *at++ = alphabet[value >> 18];
    *at++ = alphabet[(value >> 12) & 63];
    *at++ = i + 1 < length ? alphabet[(value >> 6) & 63] : '=';
    *at++ = '=';
  }
  out->length += encoded;
  out->data[out->length] = '\0';
  return 0;
}

static int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

/* Accepts the standard and URL-safe alphabets, whitespace, and missing padding, as
 * data URIs written by hand or by browsers have. */
int pn_base64_decode(const char *text, size_t length, pn_buf *out) {
  unsigned value = 0;
  int bits = 0;
  int padding = 0;
  for (size_t i = 0; i < length; i++) {
    char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      padding++;
      continue;
    }
    int digit = base64_value(c);
    if (digit < 0 || padding)
      return PN_EPARSE;
    value = value << 6 | (unsigned)digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      char byte = (char)((value >> bits) & 0xFF);
      int rc = pn_buf_append(out, &byte, 1);
      if (rc < 0)
        return rc;
    }
  }
  return padding > 2 ? PN_EPARSE : 0;
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

int pn_data_uri_decode(const char *uri, size_t length, char **media_type, pn_buf *out,
                       const char **error) {
  *media_type = NULL;
  *error = NULL;
  if (length < 5 || strncmp(uri, "data:", 5) != 0) {
    *error = "the text is not a data URI (it does not start with \"data:\")";
    return PN_EPARSE;
  }
  const char *meta = uri + 5;
  const char *comma = memchr(meta, ',', length - 5);
  if (!comma) {
    *error = "the data URI has no ',' before its payload";
    return PN_EPARSE;
  }
  size_t meta_length = (size_t)(comma - meta);
  int base64 = meta_length >= 7 && strncmp(comma - 7, ";base64", 7) == 0;
  const char *payload = comma + 1;
  size_t payload_length = length - (size_t)(payload - uri);
  int rc = base64 ? pn_base64_decode(payload, payload_length, out)
                  : pn_percent_decode(payload, payload_length, 0, out);
  if (rc < 0) {
    *error = rc == PN_EPARSE ? "the data URI's base64 payload is not valid base64"
                             : "the data URI could not be decoded";
    return rc;
  }
  const char *type_end = meta;
  while (type_end < comma && *type_end != ';')
    type_end++;
  *media_type = pn_strndup(meta, (size_t)(type_end - meta));
  return *media_type ? 0 : PN_ENOMEM;
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
