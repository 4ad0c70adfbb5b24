/* Ids, tokens and cursors. See ids.h. */
#include "hub/ids.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/error.h"

#include <string.h>

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

void pn_hub_id_encode(const unsigned char bytes[16], char out[27]) {
  unsigned buffer = 0;
  int bits = 0;
  size_t written = 0;
  for (size_t i = 0; i < 16; i++) {
    buffer = (buffer << 8) | bytes[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[written++] = crockford[(buffer >> bits) & 31];
    }
  }
  if (bits > 0)
    out[written++] = crockford[(buffer << (5 - bits)) & 31];
  out[written] = '\0';
}

int pn_hub_id_uuid7(uint64_t epoch_ms, char out[27]) {
  unsigned char bytes[16];
  int rc = pn_crypto_random(bytes, sizeof bytes);
  if (rc < 0)
    return rc;
  for (int i = 0; i < 6; i++)
    bytes[i] = (unsigned char)(epoch_ms >> (8 * (5 - i)));
  bytes[6] = (unsigned char)(0x70 | (bytes[6] & 0x0f));
  bytes[8] = (unsigned char)(0x80 | (bytes[8] & 0x3f));
  pn_hub_id_encode(bytes, out);
  return 0;
}

int pn_hub_id_random(char out[27]) {
  unsigned char bytes[16];
  int rc = pn_crypto_random(bytes, sizeof bytes);
  if (rc == 0)
    pn_hub_id_encode(bytes, out);
  return rc;
}

int pn_hub_token_new(const char *prefix, char out[PN_HUB_TOKEN_SIZE]) {
  static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  size_t written = strlen(prefix);
  size_t end = written + 40;
  if (end >= PN_HUB_TOKEN_SIZE)
    return PN_EINVAL;
  memcpy(out, prefix, written);
  while (written < end) {
    unsigned char bytes[32];
    int rc = pn_crypto_random(bytes, sizeof bytes);
    if (rc < 0)
      return rc;
    /* Rejection sampling keeps every character equally likely. */
    for (size_t i = 0; i < sizeof bytes && written < end; i++)
      if (bytes[i] < 248)
        out[written++] = base62[bytes[i] % 62];
  }
  out[end] = '\0';
  return 0;
}

int pn_hub_token_is_director(const char *token) {
  return strncmp(token, PN_HUB_DIRECTOR_TOKEN_PREFIX, strlen(PN_HUB_DIRECTOR_TOKEN_PREFIX)) == 0;
}

char *pn_hub_cursor_encode(const char *created_at, const char *id) {
  char *plain = pn_strfmt("%s|%s", created_at, id);
  if (!plain)
    return NULL;
  pn_buf encoded;
  pn_buf_init(&encoded, 4096);
  int rc = pn_base64_encode(plain, strlen(plain), &encoded);
  pn_free(plain);
  if (rc < 0) {
    pn_buf_free(&encoded);
    return NULL;
  }
  char *text = pn_buf_take(&encoded);
  if (!text)
    return NULL;
  for (char *at = text; *at; at++) {
    if (*at == '+')
      *at = '-';
    else if (*at == '/')
      *at = '_';
    else if (*at == '=')
      *at = '\0';
  }
  return text;
}

int pn_hub_cursor_decode(const char *cursor, char **created_at, char **id) {
  *created_at = *id = NULL;
  size_t length = strlen(cursor);
  if (length == 0 || length > 2048)
    return PN_EPARSE;
  char *standard = pn_strdup(cursor);
  if (!standard)
    return PN_ENOMEM;
  for (char *at = standard; *at; at++) {
    if (*at == '-')
      *at = '+';
    else if (*at == '_')
      *at = '/';
  }
  pn_buf plain;
  pn_buf_init(&plain, 4096);
  int rc = pn_base64_decode(standard, length, &plain);
  pn_free(standard);
  char *bar = rc == 0 && plain.data ? memchr(plain.data, '|', plain.length) : NULL;
  if (!bar || memchr(plain.data, '\0', plain.length)) {
    pn_buf_free(&plain);
    return PN_EPARSE;
  }
  *created_at = pn_strndup(plain.data, (size_t)(bar - plain.data));
  *id = pn_strdup(bar + 1);
  pn_buf_free(&plain);
  if (!*created_at || !*id) {
    pn_free(*created_at);
    pn_free(*id);
    *created_at = *id = NULL;
    return PN_ENOMEM;
  }
  return 0;
}
