/* The hub's state: one interface, two engines behind it: SQLite (store/sqlite.c), the
 * default, a file under the data folder; and PostgreSQL (store/postgres.c), chosen by a
 * postgres:// URL, for hubs that share their state or outgrow one machine.
 *
 * Resources (accounts, models, versions, predictions, files, deployments, webhook
 * deliveries) are rows of a document table: the whole record is a JSON document, and
 * the few fields that queries select or order on are also kept as indexed columns
 * (`pn_store_keys`). Lists are keyset pages on (created_at, id). Tokens and the pages'
 * sign-in sessions are tables of their own, holding only hashes. Every call is synchronous and
 * commits before it returns, so whatever the API acknowledges is on disk. See
 * docs/internals/hub.md. */
#ifndef PN_STORE_STORE_H
#define PN_STORE_STORE_H

#include <jansson.h>
#include <stddef.h>

typedef struct pn_store pn_store;

/* The document tables. */
#define PN_STORE_ACCOUNTS "accounts"
#define PN_STORE_MODELS "models"
#define PN_STORE_VERSIONS "versions"
#define PN_STORE_PREDICTIONS "predictions"
#define PN_STORE_FILES "files"
#define PN_STORE_DEPLOYMENTS "deployments"
#define PN_STORE_DELIVERIES "webhook_deliveries"

/* Opens the database at `location` and brings its schema up to date: a
 * postgres:// or postgresql:// URL (libpq's syntax) opens PostgreSQL; anything else is
 * the path of a SQLite file, created when missing, in WAL mode. On failure *error is a
 * pn_malloc'd message the caller frees. */
int pn_store_open(const char *location, pn_store **store, char **error);
void pn_store_close(pn_store *store);

/* Whether `location` names a PostgreSQL database (its scheme, case-insensitive). */
int pn_store_is_postgres(const char *location);
/* `location` with any password replaced by "****", for messages and logs (pn_malloc'd;
 * the caller frees it); NULL when out of memory. */
char *pn_store_redact(const char *location);
/* "SQLite" or "PostgreSQL" (static text). */
const char *pn_store_engine_name(const pn_store *store);
/* The engine's own words for why the last call failed (e.g. that the connection to
 * PostgreSQL was lost), owned by the store until its next call; NULL when the last call
 * succeeded or the engine said nothing more than its PN_E* code. */
const char *pn_store_failure(const pn_store *store);
/* The last call's PN_E* code when the database failed it (PN_ECLOSED: unreachable),
 * else 0: success, PN_ENOENT, PN_EEXISTS and PN_ESTATE are answers, not failures. */
int pn_store_failure_code(const pn_store *store);
/* The schema version the database is at (every migration up to it applied). */
int pn_store_schema_version(pn_store *store, int *version);

/* The indexed columns of a row; strings are copied, NULL stores NULL. */
typedef struct pn_store_keys {
  const char *id;         /* unique within the table */
  const char *account;    /* the owner's username */
  const char *parent;     /* versions: "owner/name"; predictions: the kind; ... */
  const char *status;     /* predictions: their status; deliveries: "pending"/"done" */
  int is_public;          /* models: visible to every account */
  const char *created_at; /* RFC 3339 text, which sorts like the time it names */
} pn_store_keys;

/* Inserts a row; PN_EEXISTS when the id is taken. */
int pn_store_insert(pn_store *store, const char *table, const pn_store_keys *keys,
                    const json_t *doc);
/* Replaces the row with `keys->id` (document and columns); PN_ENOENT when absent. */
int pn_store_update(pn_store *store, const char *table, const pn_store_keys *keys,
                    const json_t *doc);
/* Compare-and-set: replaces row `keys->id` only while its status column is one of
 * `from` (NULL-terminated), in one statement, so that of two writers moving a row on
 * from the same status exactly one succeeds. PN_ESTATE when the row has another status
 * (someone moved it first), PN_ENOENT when it is absent. */
int pn_store_update_from(pn_store *store, const char *table, const pn_store_keys *keys,
                         const json_t *doc, const char *const *from);
/* The document of row `id` as a new reference the caller releases; PN_ENOENT. */
int pn_store_get(pn_store *store, const char *table, const char *id, json_t **doc);
/* Deletes row `id`; PN_ENOENT when absent. */
int pn_store_delete(pn_store *store, const char *table, const char *id);

typedef struct pn_store_query {
  const char *account;         /* only rows of this account */
  const char *visible_to;      /* only public rows or rows of this account */
  const char *parent;          /* only rows with this parent */
  const char *const *statuses; /* only rows with one of these statuses (NULL-terminated) */
  const char *search;          /* only rows whose document contains this text (case-insensitive) */
  const char *created_after;   /* only rows created after this RFC 3339 time (text order) */
  const char *created_before;  /* only rows created before it */
  /* The page starts after this (created_at, id) position in the order; NULL: first. */
  const char *after_created_at;
  const char *after_id;
  int ascending; /* oldest first instead of newest first */
  size_t limit;  /* rows per page (0: 100) */
} pn_store_query;

/* One page: *docs is a new array the caller releases; *more says whether rows follow
 * the last one. */
int pn_store_list(pn_store *store, const char *table, const pn_store_query *query, json_t **docs,
                  int *more);

/* Tokens. `hash` is the sha256 hex of the token; `id` a short public name for it. */
int pn_store_token_add(pn_store *store, const char *id, const char *hash, const char *account,
                       const char *name, const char *created_at);
/* Every token (revoked too) as a new array of {id, account, name, created_at, revoked,
 * last_used_at (null: never)}. */
int pn_store_token_list(pn_store *store, json_t **tokens);
/* Revokes the token with this id and ends the sessions made from it; PN_ENOENT when
 * there is no such token. */
int pn_store_token_revoke(pn_store *store, const char *id);

/* Who a credential (a token, or a session made from one) stands for. The strings are
 * pn_malloc'd; pn_store_credential_clear frees them. */
typedef struct pn_store_credential {
  char *token_id;     /* the token, or the token the session was made from */
  char *account;      /* its account */
  char *last_used_at; /* when the token last authenticated (RFC 3339), or NULL: never */
} pn_store_credential;
void pn_store_credential_clear(pn_store_credential *credential);

/* The unrevoked token whose sha256 hex is `hash`; PN_ENOENT. */
int pn_store_token_find(pn_store *store, const char *hash, pn_store_credential *credential);
/* Records that token `id` authenticated at `when` (RFC 3339). */
int pn_store_token_used(pn_store *store, const char *id, const char *when);

/* Sign-in sessions of the pages. `hash` is the sha256 hex of the session id (the id
 * itself is only ever in the browser's cookie). Times are RFC 3339 text. Adding one
 * also deletes the sessions that expired. */
int pn_store_session_add(pn_store *store, const char *hash, const char *account,
                         const char *token_id, const char *created_at, const char *expires_at);
/* The session `hash` when it expires after `now` and its token is not revoked; the
 * credential names that token. PN_ENOENT otherwise. */
int pn_store_session_find(pn_store *store, const char *hash, const char *now,
                          pn_store_credential *credential);
/* Ends the session `hash`; PN_ENOENT when there is none. */
int pn_store_session_delete(pn_store *store, const char *hash);

#endif
