/* The store on PostgreSQL, chosen by a postgres:// URL. See store.h and engine.h.
 *
 * One connection (libpq, loaded with dlopen: pq_api.h), used only from the hub's loop,
 * each call one statement in autocommit, so each is its own transaction; where a call
 * changes several rows (revoking a token ends its sessions; adding a session deletes the
 * expired ones) it is one statement with data-modifying CTEs, which PostgreSQL applies
 * atomically. The schema is the SQLite engine's, made by the versioned steps below; text
 * columns that are compared or ordered use the "C" collation, so that keyset pages on
 * (created_at, id) order bytes as SQLite does, whatever the database's locale. Documents
 * are stored as text, byte for byte as the hub wrote them.
 *
 * A lost connection makes the call fail with PN_ECLOSED (the hub answers 503), and the
 * next call connects again: at most one attempt a second, each bounded by libpq's
 * connect_timeout (5 s unless the URL says otherwise), so a database that is away costs
 * the loop little. A connection the server closed while idle (a restart) is noticed
 * before it is used, so the first request after a restart already works. */
#include "store/engine.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Between two connection attempts: a database that is down is not asked again by every
 * request. */
#define RECONNECT_EVERY_NS 1000000000u
/* Any number: the key of the advisory lock that lets one hub at a time migrate. */
#define MIGRATION_LOCK "7023011"

static const pn_store_migration migrations[] = {
    {1, "tokens and the pages' sign-in sessions",
     "CREATE TABLE tokens (id text COLLATE \"C\" PRIMARY KEY, hash text NOT NULL UNIQUE, "
     "account text NOT NULL, name text, created_at text COLLATE \"C\" NOT NULL, revoked "
     "integer NOT NULL DEFAULT 0);"
     "CREATE TABLE sessions (hash text PRIMARY KEY, account text NOT NULL, token_id text NOT "
     "NULL, created_at text COLLATE \"C\" NOT NULL, expires_at text COLLATE \"C\" NOT NULL);"
     "CREATE INDEX sessions_token ON sessions (token_id);"
     "CREATE INDEX sessions_expiry ON sessions (expires_at);",
     0},
    {2, "the document tables",
     "CREATE TABLE {table} (id text COLLATE \"C\" PRIMARY KEY, account text COLLATE \"C\", "
     "parent text COLLATE \"C\", status text COLLATE \"C\", is_public integer NOT NULL DEFAULT "
     "0, created_at text COLLATE \"C\" NOT NULL, doc text NOT NULL);"
     "CREATE INDEX {table}_created ON {table} (created_at, id);"
     "CREATE INDEX {table}_account ON {table} (account, created_at, id);"
     "CREATE INDEX {table}_parent ON {table} (parent, created_at, id);"
     "CREATE INDEX {table}_status ON {table} (status);",
     1},
    {3, "when each token was last used",
     "ALTER TABLE tokens ADD COLUMN last_used_at text COLLATE \"C\";", 0},
};

const pn_store_migration *pn_store_postgres_migrations(size_t *count) {
  *count = sizeof migrations / sizeof migrations[0];
  return migrations;
}

char *pn_store_postgres_expand(const char *sql, const char *table) {
  static const char placeholder[] = "{table}";
  size_t places = 0;
  for (const char *at = strstr(sql, placeholder); at; at = strstr(at + 1, placeholder))
    places++;
  size_t table_length = strlen(table), size = strlen(sql) + places * table_length + 1;
  char *expanded = pn_malloc(size);
  if (!expanded)
    return NULL;
  char *out = expanded;
  for (const char *at; (at = strstr(sql, placeholder)); sql = at + sizeof placeholder - 1) {
    memcpy(out, sql, (size_t)(at - sql));
    out += at - sql;
    memcpy(out, table, table_length);
    out += table_length;
  }
  strcpy(out, sql);
  return expanded;
}

/* Built without libpq's headers (the runtime inside a model's image, which never talks
 * to a database), the engine is only a clear refusal. */
#if __has_include(<libpq-fe.h>)
#include "store/pq_api.h"

typedef struct pg_store {
  pn_store base; /* first: a pn_store * is a pg_store * */
  const pn_pq_api *pq;
  PGconn *conn;
  char *url;                /* as given, password included: for connecting again */
  char *shown;              /* the URL without its password, for messages */
  uint64_t last_attempt_ns; /* when the last connection attempt began (monotonic) */
} pg_store;

static const pn_store_engine engine;

static void ignore_notice(void *arg, const char *message) {}

/* libpq's message on one line, without its trailing newline (pn_malloc'd). */
static char *one_line(const char *message) {
  char *line = pn_strdup(message && *message ? message : "no reason given");
  if (!line)
    return NULL;
  size_t length = strlen(line);
  while (length && (line[length - 1] == '\n' || line[length - 1] == ' '))
    line[--length] = '\0';
  for (char *c = line; *c; c++)
    if (*c == '\n' || *c == '\t')
      *c = ' ';
  return line;
}

/* Records the failure `what` with libpq's `reason` (both on one line) for the hub's log. */
static void fail(pg_store *pg, const char *what, const char *reason) {
  char *line = one_line(reason);
  char *failure = pn_strfmt("%s PostgreSQL at %s: %s", what, pg->shown, line ? line : "");
  pn_store_set_failure(&pg->base, failure);
  pn_free(failure);
  pn_free(line);
}

static void disconnect(pg_store *pg) {
  if (pg->conn)
    pg->pq->finish(pg->conn);
  pg->conn = NULL;
}

static int connect_now(pg_store *pg) {
  disconnect(pg);
  pg->last_attempt_ns = pn_clock_monotonic_ns();
  /* Parameters after dbname (the URL) would override the URL's own; these come first, so
   * the URL may set its own. The loop waits on each statement, so each is bounded: a
   * network that drops packets silently is noticed within about ten seconds
   * (tcp_user_timeout, keepalives) instead of the system's default of hours, and a
   * statement the server does not finish in 30 seconds is canceled (statement_timeout). */
  const char *const keywords[] = {"connect_timeout",     "tcp_user_timeout", "keepalives_idle",
                                  "keepalives_interval", "keepalives_count", "options",
                                  "application_name",    "dbname",           NULL};
  const char *const values[] = {"5",          "10000", "5", "2", "3", "-c statement_timeout=30000",
                                "pinion hub", pg->url, NULL};
  pg->conn = pg->pq->connectdb_params(keywords, values, 1);
  if (!pg->conn)
    return PN_ENOMEM;
  if (pg->pq->status(pg->conn) != CONNECTION_OK) {
    fail(pg, "cannot connect to", pg->pq->error_message(pg->conn));
    disconnect(pg);
    return PN_ECLOSED;
  }
  /* Notices ("relation exists, skipping") would go to stderr. */
  pg->pq->set_notice_processor(pg->conn, ignore_notice, NULL);
  return 0;
}

/* A connection ready for a statement: the one held when it is alive, else a new one
 * (unless the last attempt was under a second ago). PN_ECLOSED when there is none. */
static int connected(pg_store *pg) {
  if (pg->conn && pg->pq->status(pg->conn) == CONNECTION_OK) {
    /* An idle connection has nothing to read unless the server spoke first, which it
     * does when it closes the connection (a shutdown or restart). */
    struct pollfd idle = {.fd = pg->pq->socket(pg->conn), .events = POLLIN};
    if (idle.fd >= 0 && poll(&idle, 1, 0) > 0)
      pg->pq->consume_input(pg->conn);
    if (pg->pq->status(pg->conn) == CONNECTION_OK)
      return 0;
    pn_warn("store: the connection to PostgreSQL at %s was closed; connecting again", pg->shown);
  }
  if (pn_clock_monotonic_ns() - pg->last_attempt_ns < RECONNECT_EVERY_NS) {
    fail(pg, "no connection to",
         "the last attempt failed under a second ago; the hub tries "
         "again at the next request after that");
    return PN_ECLOSED;
  }
  int rc = connect_now(pg);
  if (rc == 0)
    pn_info("store: connected to PostgreSQL at %s", pg->shown);
  return rc;
}

/* The PN_E* code for a statement that failed, recording why; clears `result`. */
static int failed(pg_store *pg, PGresult *result) {
  const char *state = result ? pg->pq->result_error_field(result, PG_DIAG_SQLSTATE) : NULL;
  int rc = PN_EIO;
  if (state && strcmp(state, "23505") == 0) { /* unique_violation */
    rc = PN_EEXISTS;
  } else if (pg->pq->status(pg->conn) != CONNECTION_OK ||
             (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
    /* Class 08 is a connection exception, 57P an operator's shutdown or restart. */
    fail(pg, "lost the connection to", pg->pq->error_message(pg->conn));
    disconnect(pg);
    rc = PN_ECLOSED;
  } else {
    fail(pg, "a statement failed on",
         result ? pg->pq->result_error_message(result) : pg->pq->error_message(pg->conn));
  }
  if (result)
    pg->pq->clear(result);
  return rc;
}

/* Runs `sql` with `count` text parameters (NULL: SQL NULL). On success *result is the
 * result the caller clears with pq->clear. */
static int run(pg_store *pg, const char *sql, int count, const char *const *values,
               PGresult **result) {
  *result = NULL;
  int rc = connected(pg);
  if (rc < 0)
    return rc;
  PGresult *answer = pg->pq->exec_params(pg->conn, sql, count, NULL, values, NULL, NULL, 0);
  ExecStatusType status = answer ? pg->pq->result_status(answer) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    return failed(pg, answer);
  *result = answer;
  return 0;
}

/* Runs `script`, statements without parameters (a migration step). */
static int run_script(pg_store *pg, const char *script) {
  int rc = connected(pg);
  if (rc < 0)
    return rc;
  PGresult *answer = pg->pq->exec(pg->conn, script);
  if (!answer || pg->pq->result_status(answer) != PGRES_COMMAND_OK)
    return failed(pg, answer);
  pg->pq->clear(answer);
  return 0;
}

/* Runs a statement that changes rows; PN_ENOENT when it changed none. */
static int change(pg_store *pg, const char *sql, int count, const char *const *values) {
  PGresult *result = NULL;
  int rc = run(pg, sql, count, values, &result);
  if (rc == 0) {
    rc = strcmp(pg->pq->cmd_tuples(result), "0") == 0 ? PN_ENOENT : 0;
    pg->pq->clear(result);
  }
  return rc;
}

/* Runs a statement that returns one row of one number in *number; PN_ENOENT when it returned
 * no row. */
static int count_rows(pg_store *pg, const char *sql, int count, const char *const *values,
                      long *number) {
  PGresult *result = NULL;
  int rc = run(pg, sql, count, values, &result);
  if (rc == 0) {
    if (pg->pq->ntuples(result) == 1 && !pg->pq->getisnull(result, 0, 0))
      *number = strtol(pg->pq->getvalue(result, 0, 0), NULL, 10);
    else
      rc = PN_ENOENT;
    pg->pq->clear(result);
  }
  return rc;
}

/* Applies, in one transaction under an advisory lock (so that hubs starting together
 * migrate once), every step the database lacks. */
static int migrate(pg_store *pg, char **error) {
  PGresult *result = NULL;
  int rc = run(pg, "BEGIN", 0, NULL, &result);
  if (rc == 0)
    pg->pq->clear(result);
  long current = 0;
  if (rc == 0)
    rc = run(pg, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", 0, NULL, &result);
  if (rc == 0) {
    pg->pq->clear(result);
    rc = run(pg,
             "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
             "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
             0, NULL, &result);
  }
  if (rc == 0) {
    pg->pq->clear(result);
    rc = count_rows(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
                    &current);
  }
  if (rc == 0 && current > PN_STORE_SCHEMA_VERSION) {
    *error = pn_strfmt("the PostgreSQL database at %s is at schema version %ld, newer than "
                       "this pinion knows (%d): run a pinion at least as new as the one that "
                       "migrated it",
                       pg->shown, current, PN_STORE_SCHEMA_VERSION);
    rc = PN_ESTATE;
  }
  for (size_t i = 0; rc == 0 && i < sizeof migrations / sizeof migrations[0]; i++) {
    const pn_store_migration *step = &migrations[i];
    if (step->version <= current)
      continue;
    for (size_t t = 0; rc == 0 && (step->per_table ? pn_store_tables[t] != NULL : t == 0); t++) {
      char *sql = step->per_table ? pn_store_postgres_expand(step->sql, pn_store_tables[t])
                                  : pn_strdup(step->sql);
      rc = sql ? run_script(pg, sql) : PN_ENOMEM;
      pn_free(sql);
    }
    char version[16];
    snprintf(version, sizeof version, "%d", step->version);
    const char *const values[] = {version, step->description};
    if (rc == 0)
      rc = change(pg, "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)", 2,
                  values);
    if (rc == 0)
      pn_info("store: PostgreSQL schema migrated to version %d (%s)", step->version,
              step->description);
  }
  if (rc == 0)
    rc = run(pg, "COMMIT", 0, NULL, &result);
  if (rc == 0)
    pg->pq->clear(result);
  else if (pg->conn && pg->pq->status(pg->conn) == CONNECTION_OK)
    pg->pq->clear(pg->pq->exec(pg->conn, "ROLLBACK"));
  if (rc < 0 && !*error)
    *error = pn_strfmt("cannot migrate the schema: %s",
                       pg->base.failure ? pg->base.failure : pn_strerror(rc));
  return rc;
}

static void pg_close(pn_store *store) {
  pg_store *pg = (pg_store *)store;
  disconnect(pg);
  pn_free(pg->url);
  pn_free(pg->shown);
  pn_free(pg);
}

int pn_store_postgres_open(const char *url, pn_store **out, char **error) {
  *out = NULL;
  *error = NULL;
  const char *why = NULL;
  const pn_pq_api *pq = pn_pq(&why);
  if (!pq) {
    *error = pn_strfmt("%s", why);
    return PN_EUNSUPPORTED;
  }
  pg_store *pg = pn_calloc(1, sizeof *pg);
  if (!pg)
    return PN_ENOMEM;
  pg->base.engine = &engine;
  pg->pq = pq;
  pg->url = pn_strdup(url);
  pg->shown = pn_store_redact(url);
  int rc = pg->url && pg->shown ? connect_now(pg) : PN_ENOMEM;
  if (rc < 0 && rc != PN_ENOMEM)
    *error = pn_strfmt("%s. Check that PostgreSQL runs there and that the URL is right "
                       "(postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)",
                       pg->base.failure ? pg->base.failure : pn_strerror(rc));
  if (rc == 0)
    rc = migrate(pg, error);
  if (rc < 0) {
    pn_free(pg->base.failure);
    pg_close(&pg->base);
    return rc;
  }
  pn_store_set_failure(&pg->base, NULL);
  *out = &pg->base;
  return 0;
}

static int pg_schema_version(pn_store *store, int *version) {
  long current = 0;
  int rc = count_rows((pg_store *)store, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                      0, NULL, &current);
  *version = rc == 0 ? (int)current : 0;
  return rc;
}

static int pg_write(pn_store *store, const char *table, const pn_store_keys *keys,
                    const json_t *doc, int update, const char *const *from) {
  char *text = pn_json_dump(doc, PN_JSON_COMPACT);
  int from_count = 0;
  char *from_params = from ? pn_store_status_params(from, 8, '$', &from_count) : NULL;
  char *sql = update ? pn_strfmt("UPDATE %s SET account=$2, parent=$3, status=$4, is_public=$5, "
                                 "created_at=$6, doc=$7 WHERE id=$1%s%s%s",
                                 table, from_params ? " AND status IN (" : "",
                                 from_params ? from_params : "", from_params ? ")" : "")
                     : pn_strfmt("INSERT INTO %s (id, account, parent, status, is_public, "
                                 "created_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                 table);
  const char *values[7 + 16] = {
      keys->id,         keys->account, keys->parent, keys->status, keys->is_public ? "1" : "0",
      keys->created_at, text};
  for (int i = 0; i < from_count; i++)
    values[7 + i] = from[i];
  int rc = !text || !sql || (from && !from_params)
               ? PN_ENOMEM
               : change((pg_store *)store, sql, 7 + from_count, values);
  pn_free(sql);
  pn_free(from_params);
  pn_free(text);
  return rc;
}

/* The documents in column 0 of every row, appended to `list`. */
static int append_docs(pg_store *pg, PGresult *result, json_t *list) {
  int rows = pg->pq->ntuples(result);
  for (int row = 0; row < rows; row++) {
    json_t *doc = json_loads(pg->pq->getvalue(result, row, 0), 0, NULL);
    if (!doc || json_array_append_new(list, doc) < 0)
      return PN_EIO;
  }
  return 0;
}

static int pg_get(pn_store *store, const char *table, const char *id, json_t **doc) {
  pg_store *pg = (pg_store *)store;
  char *sql = pn_strfmt("SELECT doc FROM %s WHERE id=$1", table);
  const char *const values[] = {id};
  PGresult *result = NULL;
  int rc = sql ? run(pg, sql, 1, values, &result) : PN_ENOMEM;
  if (rc == 0) {
    if (pg->pq->ntuples(result) == 0)
      rc = PN_ENOENT;
    else if (!(*doc = json_loads(pg->pq->getvalue(result, 0, 0), 0, NULL)))
      rc = PN_EIO;
    pg->pq->clear(result);
  }
  pn_free(sql);
  return rc;
}

static int pg_delete(pn_store *store, const char *table, const char *id) {
  char *sql = pn_strfmt("DELETE FROM %s WHERE id=$1", table);
  const char *const values[] = {id};
  int rc = sql ? change((pg_store *)store, sql, 1, values) : PN_ENOMEM;
  pn_free(sql);
  return rc;
}

/* At most this many statuses in one query, as in the SQLite engine. */
#define STATUSES_MAX 16

static int pg_list(pn_store *store, const char *table, const pn_store_query *query, json_t **docs,
                   int *more) {
  pg_store *pg = (pg_store *)store;
  size_t limit = query->limit ? query->limit : 100;
  const char *order = query->ascending ? "ASC" : "DESC";
  const char *compare = query->ascending ? ">" : "<";
  char statuses[STATUSES_MAX * 6] = "";
  size_t status_count = 0, used = 0;
  for (; query->statuses && query->statuses[status_count] && status_count < STATUSES_MAX;
       status_count++)
    used += (size_t)snprintf(statuses + used, sizeof statuses - used, "%s$%zu",
                             status_count ? "," : "", 10 + status_count);
  char *sql = pn_strfmt(
      "SELECT doc FROM %s WHERE ($1::text IS NULL OR account=$1) AND ($2::text IS NULL OR "
      "is_public=1 OR account=$2) AND ($3::text IS NULL OR parent=$3) AND ($4::text IS NULL OR "
      "strpos(lower(doc), lower($4)) > 0) AND ($5::text IS NULL OR (created_at, id) %s ($5, "
      "$6::text)) AND ($8::text IS NULL OR created_at > $8) AND ($9::text IS NULL OR "
      "created_at < $9) %s%s%s ORDER BY created_at %s, id %s LIMIT $7",
      table, compare, status_count ? "AND status IN (" : "", statuses, status_count ? ")" : "",
      order, order);
  char fetch[24];
  snprintf(fetch, sizeof fetch, "%zu", limit + 1);
  const char *values[9 + STATUSES_MAX] = {
      query->account, query->visible_to,       query->parent,
      query->search,  query->after_created_at, query->after_id ? query->after_id : "",
      fetch,          query->created_after,    query->created_before};
  for (size_t i = 0; i < status_count; i++)
    values[9 + i] = query->statuses[i];
  PGresult *result = NULL;
  json_t *list = json_array();
  int rc = !sql || !list ? PN_ENOMEM : run(pg, sql, 9 + (int)status_count, values, &result);
  if (rc == 0) {
    rc = append_docs(pg, result, list);
    pg->pq->clear(result);
  }
  pn_free(sql);
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  if (json_array_size(list) > limit) {
    *more = 1;
    json_array_remove(list, limit);
  }
  *docs = list;
  return 0;
}

static int pg_token_add(pn_store *store, const char *id, const char *hash, const char *account,
                        const char *name, const char *created_at) {
  const char *const values[] = {id, hash, account, name, created_at};
  return change((pg_store *)store,
                "INSERT INTO tokens (id, hash, account, name, created_at) VALUES ($1, $2, $3, "
                "$4, $5)",
                5, values);
}

static int pg_token_list(pn_store *store, json_t **tokens) {
  pg_store *pg = (pg_store *)store;
  PGresult *result = NULL;
  int rc = run(pg,
               "SELECT id, account, name, created_at, revoked, last_used_at FROM tokens ORDER "
               "BY created_at, id",
               0, NULL, &result);
  if (rc < 0)
    return rc;
  json_t *list = json_array();
  int rows = pg->pq->ntuples(result);
  for (int row = 0; list && row < rows; row++) {
    const char *name = pg->pq->getisnull(result, row, 2) ? NULL : pg->pq->getvalue(result, row, 2);
    const char *last_used =
        pg->pq->getisnull(result, row, 5) ? NULL : pg->pq->getvalue(result, row, 5);
    json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s, s:b, s:s?}", "id",
                                          pg->pq->getvalue(result, row, 0), "account",
                                          pg->pq->getvalue(result, row, 1), "name", name,
                                          "created_at", pg->pq->getvalue(result, row, 3), "revoked",
                                          strcmp(pg->pq->getvalue(result, row, 4), "0") != 0,
                                          "last_used_at", last_used));
  }
  pg->pq->clear(result);
  if (!list)
    return PN_ENOMEM;
  *tokens = list;
  return 0;
}

static int pg_token_revoke(pn_store *store, const char *id) {
  /* One statement: the token is revoked and its sessions end together, or neither. */
  long revoked = 0;
  const char *const values[] = {id};
  int rc = count_rows((pg_store *)store,
                      "WITH revoked AS (UPDATE tokens SET revoked=1 WHERE id=$1 RETURNING id), "
                      "ended AS (DELETE FROM sessions WHERE token_id IN (SELECT id FROM "
                      "revoked)) SELECT count(*) FROM revoked",
                      1, values, &revoked);
  return rc < 0 ? rc : revoked ? 0 : PN_ENOENT;
}

/* Runs a SELECT of (token id, account, last_used_at) with `count` parameters. */
static int find_credential(pg_store *pg, const char *sql, int count, const char *const *values,
                           pn_store_credential *credential) {
  PGresult *result = NULL;
  int rc = run(pg, sql, count, values, &result);
  if (rc < 0)
    return rc;
  if (pg->pq->ntuples(result) == 0) {
    rc = PN_ENOENT;
  } else {
    credential->token_id = pn_strdup(pg->pq->getvalue(result, 0, 0));
    credential->account = pn_strdup(pg->pq->getvalue(result, 0, 1));
    if (!pg->pq->getisnull(result, 0, 2))
      credential->last_used_at = pn_strdup(pg->pq->getvalue(result, 0, 2));
    rc = credential->token_id && credential->account ? 0 : PN_ENOMEM;
  }
  pg->pq->clear(result);
  if (rc < 0)
    pn_store_credential_clear(credential);
  return rc;
}

static int pg_token_find(pn_store *store, const char *hash, pn_store_credential *credential) {
  const char *const values[] = {hash};
  return find_credential((pg_store *)store,
                         "SELECT id, account, last_used_at FROM tokens WHERE hash=$1 AND revoked=0",
                         1, values, credential);
}

static int pg_token_used(pn_store *store, const char *id, const char *when) {
  const char *const values[] = {id, when};
  int rc = change((pg_store *)store, "UPDATE tokens SET last_used_at=$2 WHERE id=$1", 2, values);
  return rc == PN_ENOENT ? 0 : rc;
}

static int pg_session_add(pn_store *store, const char *hash, const char *account,
                          const char *token_id, const char *created_at, const char *expires_at) {
  /* One statement: the expired sessions go as the new one comes. */
  const char *const values[] = {hash, account, token_id, created_at, expires_at};
  return change((pg_store *)store,
                "WITH expired AS (DELETE FROM sessions WHERE expires_at <= $4) INSERT INTO "
                "sessions (hash, account, token_id, created_at, expires_at) VALUES ($1, $2, $3, "
                "$4, $5)",
                5, values);
}

static int pg_session_find(pn_store *store, const char *hash, const char *now,
                           pn_store_credential *credential) {
  const char *const values[] = {hash, now};
  return find_credential((pg_store *)store,
                         "SELECT tokens.id, sessions.account, tokens.last_used_at FROM sessions "
                         "JOIN tokens ON tokens.id = sessions.token_id WHERE sessions.hash=$1 "
                         "AND sessions.expires_at > $2 AND tokens.revoked=0",
                         2, values, credential);
}

static int pg_session_delete(pn_store *store, const char *hash) {
  const char *const values[] = {hash};
  return change((pg_store *)store, "DELETE FROM sessions WHERE hash=$1", 1, values);
}

static const pn_store_engine engine = {
    .name = "PostgreSQL",
    .close = pg_close,
    .schema_version = pg_schema_version,
    .write = pg_write,
    .get = pg_get,
    .delete_row = pg_delete,
    .list = pg_list,
    .token_add = pg_token_add,
    .token_list = pg_token_list,
    .token_revoke = pg_token_revoke,
    .token_find = pg_token_find,
    .token_used = pg_token_used,
    .session_add = pg_session_add,
    .session_find = pg_session_find,
    .session_delete = pg_session_delete,
};

#else

int pn_store_postgres_open(const char *url, pn_store **out, char **error) {
  *out = NULL;
  *error = pn_strdup("this pinion was built without PostgreSQL's client headers: install "
                     "libpq-dev (Debian) and rebuild it to use --database postgres://...");
  return PN_EUNSUPPORTED;
}

#endif
