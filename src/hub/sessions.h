/* The pages' sign-in sessions and their CSRF tokens. Signing in with an API token makes
 * a random session id (256 bits) that only the browser's cookie holds; the store keeps
 * its sha256 with the account, the token it came from and its expiry, so that signing
 * out, revoking the token or time ends it. A request that carries only the cookie
 * reaches the API only with the session's CSRF token in X-CSRF-Token: an HMAC of the
 * session id under the hub's secret, which the hub's own pages embed. See
 * docs/security.md. */
#ifndef PN_HUB_SESSIONS_H
#define PN_HUB_SESSIONS_H

#include "hub/hub.h"

/* The cookie that holds the session id. */
#define PN_HUB_SESSION_COOKIE "pinion_session"
/* The header the pages send the CSRF token in. */
#define PN_HUB_CSRF_HEADER "X-CSRF-Token"

/* Seconds a session lives: PINION_SESSION_LIFETIME, else 30 days. */
long pn_hub_session_lifetime(void);

/* Signs in with the API token `token`: a new session for its account. *session_id (64
 * hex characters, the cookie's value) and *account are pn_malloc'd; the caller frees
 * them. PN_ENOENT when the token is not a valid one. */
int pn_hub_session_create(pn_hub *hub, const char *token, char **session_id, char **account);

/* The session id the request's Cookie header carries, pn_malloc'd; NULL when none. */
char *pn_hub_session_cookie(struct evhttp_request *request);

/* The credential of a live session (unexpired, its token unrevoked); PN_ENOENT. The
 * caller clears it with pn_store_credential_clear. */
int pn_hub_session_find(pn_hub *hub, const char *session_id, pn_store_credential *credential);

/* Ends a session (signing out); nothing happens when there is none. */
void pn_hub_session_end(pn_hub *hub, const char *session_id);

/* The session's CSRF token: hex HMAC-SHA256 of the id under the hub's secret, into
 * `out` (65 bytes with the NUL). */
int pn_hub_session_csrf(pn_hub *hub, const char *session_id, char out[65]);
/* 1 when `presented` is the session's CSRF token (compared in constant time), else 0. */
int pn_hub_session_csrf_valid(pn_hub *hub, const char *session_id, const char *presented);

/* Records that the credential's token authenticated now: its `last_used_at`, written
 * at most once a minute per token so that authenticating stays a read. */
void pn_hub_credential_used(pn_hub *hub, const pn_store_credential *credential);

#endif
