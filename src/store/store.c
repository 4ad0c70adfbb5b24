/* The store's one interface, forwarding to the engine a location names. See store.h and
 * engine.h. Everything here is engine-neutral: choosing the engine from the location,
 * hiding passwords in it, and keeping the last failure's words for the hub's replies. */
#include "store/engine.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const pn_store_tables[] = {
    PN_STORE_ACCOUNTS, PN_STORE_MODELS,      PN_STORE_VERSIONS,   PN_STORE_PREDICTIONS,
    PN_STORE_FILES,    PN_STORE_DEPLOYMENTS, PN_STORE_DELIVERIES, NULL};

int pn_store_known_table(const char *table) {
  for (size_t i = 0; pn_store_tables[i]; i++)
    if (strcmp(pn_store_tables[i], table) == 0)
      return 1;
  return 0;
}

int pn_store_is_postgres(const char *location) {
  return location && (strncasecmp(location, "postgres://", 11) == 0 ||
                      strncasecmp(location, "postgresql://", 13) == 0);
}

/* The password in a URL's userinfo is between the first ':' after "//" and the last
 * '@' before the path; a password in the query (?password=) runs to the next '&'. */
char *pn_store_redact(const char *location) {
  char *copy = pn_strdup(location ? location : "");
  if (!copy || !pn_store_is_postgres(copy))
    return copy;
  char *authority = strstr(copy, "//") + 2;
  size_t authority_length = strcspn(authority, "/?#");
  char *at = NULL;
  for (size_t i = 0; i < authority_length; i++)
    if (authority[i] == '@')
      at = authority + i;
  char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
  char *redacted = copy;
  if (colon) {
    *colon = '\0';
    redacted = pn_strfmt("%s:****%s", copy, at);
    pn_free(copy);
    if (!redacted)
      return NULL;
  }
  char *password = strstr(redacted, "password=");
  while (password && password != redacted && password[-1] != '?' && password[-1] != '&')
    password = strstr(password + 1, "password=");
  if (password) {
    size_t value = strcspn(password + 9, "&#");
    char *hidden =
        pn_strfmt("%.*s****%s", (int)(password + 9 - redacted), redacted, password + 9 + value);
    pn_free(redacted);
    redacted = hidden;
  }
  return redacted;
}

int pn_store_open(const char *location, pn_store **store, char **error) {
  *store = NULL;
  *error = NULL;
  return pn_store_is_postgres(location) ? pn_store_postgres_open(location, store, error)
                                        : pn_store_sqlite_open(location, store, error);
}

void pn_store_close(pn_store *store) {
  if (!store)
    return;
  pn_free(store->failure);
  store->failure = NULL;
  store->engine->close(store);
}

const char *pn_store_engine_name(const pn_store *store) { return store->engine->name; }

const char *pn_store_failure(const pn_store *store) { return store->failure; }

void pn_store_set_failure(pn_store *store, const char *failure) {
  pn_free(store->failure);
  store->failure = failure ? pn_strdup(failure) : NULL;
}

/* Every call starts with no failure recorded, so what pn_store_failure says is about the
 * last call only. */
static pn_store *fresh(pn_store *store) {
  pn_store_set_failure(store, NULL);
  store->failure_code = 0;
  return store;
}

/* Keeps a call's result as the last failure's code unless it succeeded or found nothing. */
static int remember(pn_store *store, int rc) {
  if (rc < 0 && rc != PN_ENOENT && rc != PN_EEXISTS && rc != PN_ESTATE)
    store->failure_code = rc;
  return rc;
}

int pn_store_failure_code(const pn_store *store) { return store->failure_code; }

int pn_store_schema_version(pn_store *store, int *version) {
  return remember(store, store->engine->schema_version(fresh(store), version));
}

int pn_store_insert(pn_store *store, const char *table, const pn_store_keys *keys,
                    const json_t *doc) {
  if (!pn_store_known_table(table) || !keys->id || !keys->created_at)
    return PN_EINVAL;
  return remember(store, store->engine->write(fresh(store), table, keys, doc, 0, NULL));
}

int pn_store_update(pn_store *store, const char *table, const pn_store_keys *keys,
                    const json_t *doc) {
  if (!pn_store_known_table(table) || !keys->id || !keys->created_at)
    return PN_EINVAL;
  return remember(store, store->engine->write(fresh(store), table, keys, doc, 1, NULL));
}

int pn_store_update_from(pn_store *store, const char *table, const pn_store_keys *keys,
                         const json_t *doc, const char *const *from) {
  if (!pn_store_known_table(table) || !keys->id || !keys->created_at || !from || !from[0])
    return PN_EINVAL;
  int rc = store->engine->write(fresh(store), table, keys, doc, 1, from);
  if (rc != PN_ENOENT)
    return remember(store, rc);
  /* Nothing changed: the row is gone, or someone moved it on first. */
  json_t *current = NULL;
  rc = store->engine->get(store, table, keys->id, &current);
  json_decref(current);
  return remember(store, rc == 0 ? PN_ESTATE : rc);
}

char *pn_store_status_params(const char *const *from, int first, char marker, int *count) {
  pn_buf list;
  pn_buf_init(&list, 4096);
  *count = 0;
  for (; from && from[*count] && *count < 16; (*count)++) {
    char param[24];
    snprintf(param, sizeof param, "%s%c%d", *count ? ", " : "", marker, first + *count);
    pn_buf_append_str(&list, param);
  }
  if (pn_buf_append(&list, "", 1) < 0) {
    pn_buf_free(&list);
    return NULL;
  }
  return list.data;
}

int pn_store_get(pn_store *store, const char *table, const char *id, json_t **doc) {
  *doc = NULL;
  if (!pn_store_known_table(table))
    return PN_EINVAL;
  return remember(store, store->engine->get(fresh(store), table, id, doc));
}

int pn_store_delete(pn_store *store, const char *table, const char *id) {
  if (!pn_store_known_table(table))
    return PN_EINVAL;
  return remember(store, store->engine->delete_row(fresh(store), table, id));
}

int pn_store_list(pn_store *store, const char *table, const pn_store_query *query, json_t **docs,
                  int *more) {
  *docs = NULL;
  *more = 0;
  if (!pn_store_known_table(table))
    return PN_EINVAL;
  return remember(store, store->engine->list(fresh(store), table, query, docs, more));
}

int pn_store_token_add(pn_store *store, const char *id, const char *hash, const char *account,
                       const char *name, const char *created_at) {
  return remember(store,
                  store->engine->token_add(fresh(store), id, hash, account, name, created_at));
}

int pn_store_token_list(pn_store *store, json_t **tokens) {
  *tokens = NULL;
  return remember(store, store->engine->token_list(fresh(store), tokens));
}

int pn_store_token_revoke(pn_store *store, const char *id) {
  return remember(store, store->engine->token_revoke(fresh(store), id));
}

void pn_store_credential_clear(pn_store_credential *credential) {
  pn_free(credential->token_id);
  pn_free(credential->account);
  pn_free(credential->last_used_at);
  *credential = (pn_store_credential){0};
}

int pn_store_token_find(pn_store *store, const char *hash, pn_store_credential *credential) {
  *credential = (pn_store_credential){0};
  return remember(store, store->engine->token_find(fresh(store), hash, credential));
}

int pn_store_token_used(pn_store *store, const char *id, const char *when) {
  return remember(store, store->engine->token_used(fresh(store), id, when));
}

int pn_store_session_add(pn_store *store, const char *hash, const char *account,
                         const char *token_id, const char *created_at, const char *expires_at) {
  return remember(store, store->engine->session_add(fresh(store), hash, account, token_id,
                                                    created_at, expires_at));
}

int pn_store_session_find(pn_store *store, const char *hash, const char *now,
                          pn_store_credential *credential) {
  *credential = (pn_store_credential){0};
  return remember(store, store->engine->session_find(fresh(store), hash, now, credential));
}

int pn_store_session_delete(pn_store *store, const char *hash) {
  return remember(store, store->engine->session_delete(fresh(store), hash));
}
