/* Sign-in sessions of the hub's pages, and their CSRF tokens. See sessions.h.
 *
 * The cookie never holds an API token: a stolen or logged cookie is worth one session,
 * which signing out, revoking its token or its expiry ends, and the store holds only
 * the session id's sha256, as it does for tokens. The CSRF token needs no state: it is
 * derived from the session id with the hub's secret (DATA/secret), so only the hub can
 * make it, and it changes with every session. */
#include "hub/sessions.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/env.h"
#include "core/error.h"
#include "hub/ids.h"

#include <stdio.h>
#include <string.h>

#define SESSION_LIFETIME_SECONDS (30L * 24 * 3600)
#define SESSION_ID_BYTES 32
#define SESSION_ID_MAX 128
/* A token's last use is written at most this often. */
#define LAST_USED_EVERY_SECONDS 60

long pn_hub_session_lifetime(void) {
  return (long)pn_env_number("PINION_SESSION_LIFETIME", "seconds", 1, 1e9,
                             SESSION_LIFETIME_SECONDS);
}

static void to_hex(const unsigned char *bytes, size_t length, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < length; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * length] = '\0';
}

int pn_hub_session_create(pn_hub *hub, const char *token, char **session_id, char **account) {
  *session_id = NULL;
  *account = NULL;
  char token_hash[65], id[2 * SESSION_ID_BYTES + 1], id_hash[65];
  if (!token || !*token || pn_hub_token_is_director(token))
    return PN_ENOENT; /* a director's credential signs in nowhere */
  pn_store_credential credential = {0};
  int rc = pn_crypto_sha256_hex(token, strlen(token), token_hash);
  if (rc == 0)
    rc = pn_store_token_find(hub->store, token_hash, &credential);
  unsigned char bytes[SESSION_ID_BYTES];
  if (rc == 0)
    rc = pn_crypto_random(bytes, sizeof bytes);
  if (rc == 0) {
    to_hex(bytes, sizeof bytes, id);
    rc = pn_crypto_sha256_hex(id, strlen(id), id_hash);
  }
  if (rc == 0) {
    uint64_t now_ns = pn_clock_realtime_ns();
    uint64_t expires_ns = now_ns + (uint64_t)pn_hub_session_lifetime() * 1000000000u;
    char now[40], expires[40];
    pn_clock_format(now_ns, 0, now, sizeof now);
    pn_clock_format(expires_ns, 0, expires, sizeof expires);
    rc = pn_store_session_add(hub->store, id_hash, credential.account, credential.token_id, now,
                              expires);
  }
  if (rc == 0) {
    pn_hub_credential_used(hub, &credential);
    *session_id = pn_strdup(id);
    *account = credential.account;
    credential.account = NULL;
    if (!*session_id) {
      pn_free(*account);
      *account = NULL;
      rc = PN_ENOMEM;
    }
  }
  pn_store_credential_clear(&credential);
  return rc;
}

char *pn_hub_session_cookie(struct evhttp_request *request) {
  static const char name[] = PN_HUB_SESSION_COOKIE "=";
  const char *cookies = evhttp_find_header(evhttp_request_get_input_headers(request), "Cookie");
  for (const char *at = cookies; at && *at;) {
    while (*at == ' ' || *at == ';')
      at++;
    const char *end = strchr(at, ';');
    size_t length = end ? (size_t)(end - at) : strlen(at);
    if (length > sizeof name - 1 && length - (sizeof name - 1) <= SESSION_ID_MAX &&
        strncmp(at, name, sizeof name - 1) == 0)
      return pn_strndup(at + sizeof name - 1, length - (sizeof name - 1));
    at = end;
  }
  return NULL;
}

int pn_hub_session_find(pn_hub *hub, const char *session_id, pn_store_credential *credential) {
  *credential = (pn_store_credential){0};
  char hash[65], now[40];
  if (!session_id || !*session_id)
    return PN_ENOENT;
  int rc = pn_crypto_sha256_hex(session_id, strlen(session_id), hash);
  if (rc < 0)
    return rc;
  pn_hub_now(now);
  return pn_store_session_find(hub->store, hash, now, credential);
}

void pn_hub_session_end(pn_hub *hub, const char *session_id) {
  char hash[65];
  if (session_id && *session_id && pn_crypto_sha256_hex(session_id, strlen(session_id), hash) == 0)
    pn_store_session_delete(hub->store, hash);
}

int pn_hub_session_csrf(pn_hub *hub, const char *session_id, char out[65]) {
  static const char purpose[] = "pinion csrf\n";
  char message[sizeof purpose + SESSION_ID_MAX];
  size_t id_length = strlen(session_id);
  if (id_length > SESSION_ID_MAX)
    return PN_EINVAL;
  memcpy(message, purpose, sizeof purpose - 1);
  memcpy(message + sizeof purpose - 1, session_id, id_length);
  unsigned char mac[32];
  int rc = pn_crypto_hmac_sha256(hub->secret, sizeof hub->secret, message,
                                 sizeof purpose - 1 + id_length, mac);
  if (rc == 0)
    to_hex(mac, sizeof mac, out);
  return rc;
}

int pn_hub_session_csrf_valid(pn_hub *hub, const char *session_id, const char *presented) {
  char expected[65];
  if (!presented || strlen(presented) != 64 || pn_hub_session_csrf(hub, session_id, expected) < 0)
    return 0;
  unsigned char difference = 0;
  for (size_t i = 0; i < 64; i++)
    difference |= (unsigned char)(expected[i] ^ presented[i]);
  return difference == 0;
}

void pn_hub_credential_used(pn_hub *hub, const pn_store_credential *credential) {
  uint64_t now_ns = pn_clock_realtime_ns();
  char now[40], threshold[40];
  pn_clock_format(now_ns, 0, now, sizeof now);
  pn_clock_format(now_ns - (uint64_t)LAST_USED_EVERY_SECONDS * 1000000000u, 0, threshold,
                  sizeof threshold);
  /* RFC 3339 UTC text in one form sorts like the time it names. */
  if (!credential->last_used_at || strcmp(credential->last_used_at, threshold) < 0)
    pn_store_token_used(hub->store, credential->token_id, now);
}
