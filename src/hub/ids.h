/* Identifiers the hub hands out: prediction ids (UUIDv7 as 26 lowercase Crockford
 * base32 characters, so they sort by creation time), random ids of the same shape for
 * files and webhook messages, API tokens (`r8_` + 40 base62 characters), and the
 * opaque cursors of list pages. */
#ifndef PN_HUB_IDS_H
#define PN_HUB_IDS_H

#include <stddef.h>
#include <stdint.h>

/* 128 bits as 26 lowercase Crockford base32 characters (the unpadded base32 of the 16
 * bytes, most significant first) into `out` (27 bytes with the NUL). */
void pn_hub_id_encode(const unsigned char bytes[16], char out[27]);
/* A UUIDv7 for `epoch_ms` with random low bits, encoded as above. */
int pn_hub_id_uuid7(uint64_t epoch_ms, char out[27]);
/* 128 random bits, encoded as above. */
int pn_hub_id_random(char out[27]);
/* Tokens are of two kinds, told apart by their prefix (which their stored hash covers,
 * so one kind cannot pass for the other): an account's API token, for /v1/ and the
 * pages, and a director's credential, for the internal API only. */
#define PN_HUB_TOKEN_PREFIX "r8_"
#define PN_HUB_DIRECTOR_TOKEN_PREFIX "pnd_"
#define PN_HUB_TOKEN_SIZE 48
/* `prefix` (one of the above) + 40 random base62 characters into `out` (with the NUL). */
int pn_hub_token_new(const char *prefix, char out[PN_HUB_TOKEN_SIZE]);
/* Whether `token` is a director's credential. */
int pn_hub_token_is_director(const char *token);

/* The cursor for a list position: unpadded base64url of "created_at|id",
 * pn_malloc'd; the caller frees it. */
char *pn_hub_cursor_encode(const char *created_at, const char *id);
/* Splits a cursor back into its two parts (pn_malloc'd, the caller frees both);
 * PN_EPARSE when it is not one of ours. */
int pn_hub_cursor_decode(const char *cursor, char **created_at, char **id);

#endif
