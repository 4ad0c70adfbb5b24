/* The store on SQLite, the default engine. See store.h and engine.h.
 *
 * One connection, used only from the hub's loop. WAL with synchronous=NORMAL: a
 * commit is a write to the log without fsync of the database file, well under a
 * millisecond, and survives a crash of the process (the OS still has the log). Each
 * call is one statement, so each is its own transaction. Document tables share one
 * shape; their names come from a fixed list, never from requests. */
#include "store/engine.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"

#include <sqlite3.h>
#include <string.h>

typedef struct sqlite_store {
  pn_store base; /* first: a pn_store * is a sqlite_store * */
  sqlite3 *db;
} sqlite_store;

static sqlite3 *db_of(pn_store *store) { return ((sqlite_store *)store)->db; }

static int exec(pn_store *store, const char *sql, char **error) {
  char *message = NULL;
  if (sqlite3_exec(db_of(store), sql, NULL, NULL, &message) != SQLITE_OK) {
    if (error)
      *error = pn_strfmt("%s", message ? message : "unknown SQLite error");
    sqlite3_free(message);
    return PN_EIO;
  }
  return 0;
}

/* Migrations: adds `column` to `table` when a database made by an older pinion lacks it.
 * Names come from this file, never from requests. */
static int add_column(pn_store *store, const char *table, const char *column, const char *type,
                      char **error) {
  sqlite3_stmt *statement = NULL;
  int rc =
      sqlite3_prepare_v2(db_of(store), "SELECT count(*) FROM pragma_table_info(?1) WHERE name=?2",
                         -1, &statement, NULL) == SQLITE_OK
          ? 0
          : PN_EIO;
  int present = 0;
  if (rc == 0) {
    sqlite3_bind_text(statement, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 2, column, -1, SQLITE_STATIC);
    if (sqlite3_step(statement) == SQLITE_ROW)
      present = sqlite3_column_int(statement, 0) > 0;
    else
      rc = PN_EIO;
  }
  sqlite3_finalize(statement);
  if (rc < 0) {
    *error = pn_strfmt("cannot read the columns of %s: %s", table, sqlite3_errmsg(db_of(store)));
    return rc;
  }
  if (present)
    return 0;
  char *sql = pn_strfmt("ALTER TABLE %s ADD COLUMN %s %s", table, column, type);
  rc = sql ? exec(store, sql, error) : PN_ENOMEM;
  pn_free(sql);
  return rc;
}

static const pn_store_engine engine;

static void sqlite_close(pn_store *store) {
  sqlite3_close_v2(db_of(store));
  pn_free(store);
}

int pn_store_sqlite_open(const char *path, pn_store **out, char **error) {
  *out = NULL;
  *error = NULL;
  sqlite_store *opened = pn_calloc(1, sizeof *opened);
  if (!opened)
    return PN_ENOMEM;
  opened->base.engine = &engine;
  pn_store *store = &opened->base;
  if (sqlite3_open_v2(path, &opened->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    *error = pn_strfmt("cannot open %s: %s", path, sqlite3_errmsg(db_of(store)));
    sqlite_close(store);
    return PN_EIO;
  }
  sqlite3_busy_timeout(db_of(store), 5000);
  int rc = exec(store,
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                "CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL "
                "UNIQUE, account TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL, revoked "
                "INTEGER NOT NULL DEFAULT 0);"
                "CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, account TEXT NOT "
                "NULL, token_id TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT "
                "NULL);"
                "CREATE INDEX IF NOT EXISTS sessions_token ON sessions (token_id);"
                "CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);",
                error);
  if (rc == 0)
    rc = add_column(store, "tokens", "last_used_at", "TEXT", error);
  for (size_t i = 0; rc == 0 && pn_store_tables[i]; i++) {
    const char *table = pn_store_tables[i];
    char *sql = pn_strfmt(
        "CREATE TABLE IF NOT EXISTS %s (id TEXT PRIMARY KEY, account TEXT, parent TEXT, "
        "status TEXT, is_public INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, doc TEXT "
        "NOT NULL);"
        "CREATE INDEX IF NOT EXISTS %s_account ON %s (account, created_at, id);"
        "CREATE INDEX IF NOT EXISTS %s_parent ON %s (parent, created_at, id);"
        "CREATE INDEX IF NOT EXISTS %s_status ON %s (status);",
        table, table, table, table, table, table, table);
    rc = sql ? exec(store, sql, error) : PN_ENOMEM;
    pn_free(sql);
  }
  if (rc < 0) {
    sqlite_close(store);
    return rc;
  }
  *out = store;
  return 0;
}

static int sqlite_schema_version(pn_store *store, int *version) {
  *version = PN_STORE_SCHEMA_VERSION;
  return 0;
}

static int prepare(pn_store *store, const char *sql, sqlite3_stmt **statement) {
  return sqlite3_prepare_v2(db_of(store), sql, -1, statement, NULL) == SQLITE_OK ? 0 : PN_EIO;
}

static void bind_text(sqlite3_stmt *statement, int index, const char *text) {
  if (text)
    sqlite3_bind_text(statement, index, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(statement, index);
}

static int sqlite_write(pn_store *store, const char *table, const pn_store_keys *keys,
                        const json_t *doc, int update, const char *const *from) {
  char *text = pn_json_dump(doc, PN_JSON_COMPACT);
  int from_count = 0;
  char *from_params = from ? pn_store_status_params(from, 8, '?', &from_count) : NULL;
  char *sql = update ? pn_strfmt("UPDATE %s SET account=?2, parent=?3, status=?4, is_public=?5, "
                                 "created_at=?6, doc=?7 WHERE id=?1%s%s%s",
                                 table, from_params ? " AND status IN (" : "",
                                 from_params ? from_params : "", from_params ? ")" : "")
                     : pn_strfmt("INSERT INTO %s (id, account, parent, status, is_public, "
                                 "created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 table);
  sqlite3_stmt *statement = NULL;
  int rc = !text || !sql || (from && !from_params) ? PN_ENOMEM : prepare(store, sql, &statement);
  if (rc == 0) {
    bind_text(statement, 1, keys->id);
    bind_text(statement, 2, keys->account);
    bind_text(statement, 3, keys->parent);
    bind_text(statement, 4, keys->status);
    sqlite3_bind_int(statement, 5, keys->is_public);
    bind_text(statement, 6, keys->created_at);
    bind_text(statement, 7, text);
    for (int i = 0; i < from_count; i++)
      bind_text(statement, 8 + i, from[i]);
    int step = sqlite3_step(statement);
    if (step == SQLITE_CONSTRAINT)
      rc = PN_EEXISTS;
    else if (step != SQLITE_DONE)
      rc = PN_EIO;
    else if (update && sqlite3_changes(db_of(store)) == 0)
      rc = PN_ENOENT;
  }
  sqlite3_finalize(statement);
  pn_free(sql);
  pn_free(from_params);
  pn_free(text);
  return rc;
}

static json_t *column_doc(sqlite3_stmt *statement, int column) {
  const char *text = (const char *)sqlite3_column_text(statement, column);
  return text ? json_loads(text, 0, NULL) : NULL;
}

static int sqlite_get(pn_store *store, const char *table, const char *id, json_t **doc) {
  char *sql = pn_strfmt("SELECT doc FROM %s WHERE id=?1", table);
  sqlite3_stmt *statement = NULL;
  int rc = sql ? prepare(store, sql, &statement) : PN_ENOMEM;
  if (rc == 0) {
    bind_text(statement, 1, id);
    int step = sqlite3_step(statement);
    if (step == SQLITE_ROW)
      rc = (*doc = column_doc(statement, 0)) ? 0 : PN_EIO;
    else
      rc = step == SQLITE_DONE ? PN_ENOENT : PN_EIO;
  }
  sqlite3_finalize(statement);
  pn_free(sql);
  return rc;
}

/* Runs `sql`, which changes the rows ?1 selects (a row's id, a token's sessions, a
 * time); PN_ENOENT when no row changed. */
static int change_row(pn_store *store, const char *sql, const char *id) {
  sqlite3_stmt *statement = NULL;
  int rc = sql ? prepare(store, sql, &statement) : PN_ENOMEM;
  if (rc == 0) {
    bind_text(statement, 1, id);
    if (sqlite3_step(statement) != SQLITE_DONE)
      rc = PN_EIO;
    else if (sqlite3_changes(db_of(store)) == 0)
      rc = PN_ENOENT;
  }
  sqlite3_finalize(statement);
  return rc;
}

static int sqlite_delete(pn_store *store, const char *table, const char *id) {
  char *sql = pn_strfmt("DELETE FROM %s WHERE id=?1", table);
  int rc = change_row(store, sql, id);
  pn_free(sql);
  return rc;
}

static int sqlite_list(pn_store *store, const char *table, const pn_store_query *query,
                       json_t **docs, int *more) {
  size_t limit = query->limit ? query->limit : 100;
  const char *order = query->ascending ? "ASC" : "DESC";
  const char *compare = query->ascending ? ">" : "<";
  char statuses[512] = "";
  size_t status_count = 0;
  if (query->statuses) {
    size_t used = 0;
    for (; query->statuses[status_count] && status_count < 16; status_count++)
      used += (size_t)snprintf(statuses + used, sizeof statuses - used, "%s?%zu",
                               status_count ? "," : "", 20 + status_count);
  }
  char *sql = pn_strfmt(
      "SELECT doc FROM %s WHERE (?1 IS NULL OR account=?1) AND (?2 IS NULL OR is_public=1 OR "
      "account=?2) AND (?3 IS NULL OR parent=?3) AND (?4 IS NULL OR instr(lower(doc), "
      "lower(?4)) > 0) AND (?5 IS NULL OR (created_at, id) %s (?5, ?6)) AND (?8 IS NULL OR "
      "created_at > ?8) AND (?9 IS NULL OR created_at < ?9) %s%s%s ORDER BY "
      "created_at %s, id %s LIMIT ?7",
      table, compare, status_count ? "AND status IN (" : "", statuses, status_count ? ")" : "",
      order, order);
  sqlite3_stmt *statement = NULL;
  int rc = sql ? prepare(store, sql, &statement) : PN_ENOMEM;
  json_t *list = json_array();
  if (rc == 0 && list) {
    bind_text(statement, 1, query->account);
    bind_text(statement, 2, query->visible_to);
    bind_text(statement, 3, query->parent);
    bind_text(statement, 4, query->search);
    bind_text(statement, 5, query->after_created_at);
    bind_text(statement, 6, query->after_id ? query->after_id : "");
    sqlite3_bind_int64(statement, 7, (sqlite3_int64)limit + 1);
    bind_text(statement, 8, query->created_after);
    bind_text(statement, 9, query->created_before);
    for (size_t i = 0; i < status_count; i++)
      bind_text(statement, 20 + (int)i, query->statuses[i]);
    int step;
    while ((step = sqlite3_step(statement)) == SQLITE_ROW) {
      if (json_array_size(list) == limit) {
        *more = 1;
        break;
      }
      json_t *doc = column_doc(statement, 0);
      if (doc)
        json_array_append_new(list, doc);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
      rc = PN_EIO;
  } else if (rc == 0) {
    rc = PN_ENOMEM;
  }
  sqlite3_finalize(statement);
  pn_free(sql);
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *docs = list;
  return 0;
}

static int sqlite_token_add(pn_store *store, const char *id, const char *hash, const char *account,
                            const char *name, const char *created_at) {
  sqlite3_stmt *statement = NULL;
  int rc = prepare(store,
                   "INSERT INTO tokens (id, hash, account, name, created_at) VALUES (?1, ?2, ?3, "
                   "?4, ?5)",
                   &statement);
  if (rc == 0) {
    bind_text(statement, 1, id);
    bind_text(statement, 2, hash);
    bind_text(statement, 3, account);
    bind_text(statement, 4, name);
    bind_text(statement, 5, created_at);
    int step = sqlite3_step(statement);
    rc = step == SQLITE_DONE ? 0 : step == SQLITE_CONSTRAINT ? PN_EEXISTS : PN_EIO;
  }
  sqlite3_finalize(statement);
  return rc;
}

static int sqlite_token_list(pn_store *store, json_t **tokens) {
  sqlite3_stmt *statement = NULL;
  int rc = prepare(store,
                   "SELECT id, account, name, created_at, revoked, last_used_at FROM tokens "
                   "ORDER BY created_at, id",
                   &statement);
  json_t *list = json_array();
  if (rc == 0 && list) {
    while (sqlite3_step(statement) == SQLITE_ROW) {
      const char *name = (const char *)sqlite3_column_text(statement, 2);
      json_array_append_new(
          list,
          json_pack("{s:s, s:s, s:s?, s:s, s:b, s:s?}", "id", sqlite3_column_text(statement, 0),
                    "account", sqlite3_column_text(statement, 1), "name", name, "created_at",
                    sqlite3_column_text(statement, 3), "revoked", sqlite3_column_int(statement, 4),
                    "last_used_at", (const char *)sqlite3_column_text(statement, 5)));
    }
  }
  sqlite3_finalize(statement);
  if (rc < 0 || !list) {
    json_decref(list);
    return rc < 0 ? rc : PN_ENOMEM;
  }
  *tokens = list;
  return 0;
}

static int sqlite_token_revoke(pn_store *store, const char *id) {
  int rc = change_row(store, "UPDATE tokens SET revoked=1 WHERE id=?1", id);
  /* Finding a session checks its token too; deleting them keeps nothing that is dead. */
  if (rc == 0) {
    rc = change_row(store, "DELETE FROM sessions WHERE token_id=?1", id);
    rc = rc == PN_ENOENT ? 0 : rc;
  }
  return rc;
}

static char *column_text(sqlite3_stmt *statement, int column) {
  const char *text = (const char *)sqlite3_column_text(statement, column);
  return text ? pn_strdup(text) : NULL;
}

/* Runs a SELECT of (token id, account, last_used_at) bound to ?1 (and ?2 when `second`). */
static int find_credential(pn_store *store, const char *sql, const char *first, const char *second,
                           pn_store_credential *credential) {
  sqlite3_stmt *statement = NULL;
  int rc = prepare(store, sql, &statement);
  if (rc == 0) {
    bind_text(statement, 1, first);
    if (second)
      bind_text(statement, 2, second);
    int step = sqlite3_step(statement);
    if (step == SQLITE_ROW) {
      credential->token_id = column_text(statement, 0);
      credential->account = column_text(statement, 1);
      credential->last_used_at = column_text(statement, 2);
      rc = credential->token_id && credential->account ? 0 : PN_ENOMEM;
    } else {
      rc = step == SQLITE_DONE ? PN_ENOENT : PN_EIO;
    }
  }
  sqlite3_finalize(statement);
  if (rc < 0)
    pn_store_credential_clear(credential);
  return rc;
}

static int sqlite_token_find(pn_store *store, const char *hash, pn_store_credential *credential) {
  return find_credential(store,
                         "SELECT id, account, last_used_at FROM tokens WHERE hash=?1 AND revoked=0",
                         hash, NULL, credential);
}

static int sqlite_token_used(pn_store *store, const char *id, const char *when) {
  sqlite3_stmt *statement = NULL;
  int rc = prepare(store, "UPDATE tokens SET last_used_at=?2 WHERE id=?1", &statement);
  if (rc == 0) {
    bind_text(statement, 1, id);
    bind_text(statement, 2, when);
    rc = sqlite3_step(statement) == SQLITE_DONE ? 0 : PN_EIO;
  }
  sqlite3_finalize(statement);
  return rc;
}

static int sqlite_session_add(pn_store *store, const char *hash, const char *account,
                              const char *token_id, const char *created_at,
                              const char *expires_at) {
  int rc = change_row(store, "DELETE FROM sessions WHERE expires_at <= ?1", created_at);
  if (rc < 0 && rc != PN_ENOENT)
    return rc;
  sqlite3_stmt *statement = NULL;
  rc = prepare(store,
               "INSERT INTO sessions (hash, account, token_id, created_at, expires_at) VALUES "
               "(?1, ?2, ?3, ?4, ?5)",
               &statement);
  if (rc == 0) {
    bind_text(statement, 1, hash);
    bind_text(statement, 2, account);
    bind_text(statement, 3, token_id);
    bind_text(statement, 4, created_at);
    bind_text(statement, 5, expires_at);
    int step = sqlite3_step(statement);
    rc = step == SQLITE_DONE ? 0 : step == SQLITE_CONSTRAINT ? PN_EEXISTS : PN_EIO;
  }
  sqlite3_finalize(statement);
  return rc;
}

static int sqlite_session_find(pn_store *store, const char *hash, const char *now,
                               pn_store_credential *credential) {
  return find_credential(store,
                         "SELECT tokens.id, sessions.account, tokens.last_used_at FROM sessions "
                         "JOIN tokens ON tokens.id = sessions.token_id WHERE sessions.hash=?1 AND "
                         "sessions.expires_at > ?2 AND tokens.revoked=0",
                         hash, now, credential);
}

static int sqlite_session_delete(pn_store *store, const char *hash) {
  return change_row(store, "DELETE FROM sessions WHERE hash=?1", hash);
}

static const pn_store_engine engine = {
    .name = "SQLite",
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .write = sqlite_write,
    .get = sqlite_get,
    .delete_row = sqlite_delete,
    .list = sqlite_list,
    .token_add = sqlite_token_add,
    .token_list = sqlite_token_list,
    .token_revoke = sqlite_token_revoke,
    .token_find = sqlite_token_find,
    .token_used = sqlite_token_used,
    .session_add = sqlite_session_add,
    .session_find = sqlite_session_find,
    .session_delete = sqlite_session_delete,
};
