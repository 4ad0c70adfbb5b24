/* The store's engines behind store.h: each one (sqlite.c, postgres.c) fills a table of
 * functions, and every pn_store begins with a pointer to its engine's table, so store.c
 * forwards each call without knowing which engine it talks to. Internal to src/store/. */
#ifndef PN_STORE_ENGINE_H
#define PN_STORE_ENGINE_H

#include "store/store.h"

/* The schema version both engines bring a database to when they open it: the last entry
 * of postgres.c's migrations, and what sqlite.c's idempotent setup amounts to. */
#define PN_STORE_SCHEMA_VERSION 3

typedef struct pn_store_engine {
  const char *name; /* "SQLite", "PostgreSQL": for messages */
  void (*close)(pn_store *store);
  int (*schema_version)(pn_store *store, int *version);
  /* Inserts, or (update) replaces the row; with `from` (NULL-terminated statuses), only
   * while the row's status is one of them: PN_ENOENT when nothing changed. */
  int (*write)(pn_store *store, const char *table, const pn_store_keys *keys, const json_t *doc,
               int update, const char *const *from);
  int (*get)(pn_store *store, const char *table, const char *id, json_t **doc);
  int (*delete_row)(pn_store *store, const char *table, const char *id);
  int (*list)(pn_store *store, const char *table, const pn_store_query *query, json_t **docs,
              int *more);
  int (*token_add)(pn_store *store, const char *id, const char *hash, const char *account,
                   const char *name, const char *created_at);
  int (*token_list)(pn_store *store, json_t **tokens);
  int (*token_revoke)(pn_store *store, const char *id);
  int (*token_find)(pn_store *store, const char *hash, pn_store_credential *credential);
  int (*token_used)(pn_store *store, const char *id, const char *when);
  int (*session_add)(pn_store *store, const char *hash, const char *account, const char *token_id,
                     const char *created_at, const char *expires_at);
  int (*session_find)(pn_store *store, const char *hash, const char *now,
                      pn_store_credential *credential);
  int (*session_delete)(pn_store *store, const char *hash);
} pn_store_engine;

/* The head of every engine's store struct. `failure` is the engine's words for the last
 * call's failure (pn_malloc'd, owned by the store; NULL when that call succeeded), and
 * `failure_code` its code (0 when it succeeded, found nothing or found a duplicate). */
struct pn_store {
  const pn_store_engine *engine;
  char *failure;
  int failure_code; /* the last call's PN_E* code when it failed for want of the database */
};

/* Records (or, with NULL, forgets) what the last call's failure was; the text is copied. */
void pn_store_set_failure(pn_store *store, const char *failure);

/* The placeholders for the statuses of `from` (at most 16): "?8, ?9, ..." with marker
 * '?' and first 8, or "$8, $9, ..." with '$'; *count says how many. pn_malloc'd; NULL
 * when out of memory. */
char *pn_store_status_params(const char *const *from, int first, char marker, int *count);

/* The tables every document row lives in, NULL-terminated; names come only from here. */
extern const char *const pn_store_tables[];
int pn_store_known_table(const char *table);

/* One step of PostgreSQL's schema. Steps are applied in order, each once, and recorded
 * in the table schema_migrations; a released step never changes: a new pinion adds
 * steps. `sql` runs as is, or, when `per_table`, once per document table with every
 * "{table}" in it replaced by the table's name. */
typedef struct pn_store_migration {
  int version;
  const char *description;
  const char *sql;
  int per_table;
} pn_store_migration;

/* PostgreSQL's steps in order (a static array of *count entries). */
const pn_store_migration *pn_store_postgres_migrations(size_t *count);
/* A step's SQL for `table` ("{table}" replaced); pn_malloc'd, NULL when out of memory. */
char *pn_store_postgres_expand(const char *sql, const char *table);

int pn_store_sqlite_open(const char *path, pn_store **store, char **error);
int pn_store_postgres_open(const char *url, pn_store **store, char **error);

#endif
