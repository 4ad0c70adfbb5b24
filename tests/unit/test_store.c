/* Unit tests for the store's engine-neutral parts (store/store.c) and PostgreSQL's
 * migration steps (store/postgres.c); the engines themselves are tested over the hub's
 * API (tests/integration/test_hub_postgres.py) and in test_hub.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void a_postgres_scheme_picks_postgresql_and_anything_else_sqlite(void **state) {
  assert_true(pn_store_is_postgres("postgres://hub@db:5432/hub"));
  assert_true(pn_store_is_postgres("postgresql://hub@db/hub"));
  assert_true(pn_store_is_postgres("POSTGRES://hub@db/hub"));
  assert_false(pn_store_is_postgres("/var/lib/pinion/hub.db"));
  assert_false(pn_store_is_postgres("postgres:/hub"));
  assert_false(pn_store_is_postgres("mysql://root@db/hub"));
  assert_false(pn_store_is_postgres(NULL));
}

static void expect_redacted(const char *location, const char *expected) {
  char *redacted = pn_store_redact(location);
  assert_non_null(redacted);
  assert_string_equal(redacted, expected);
  pn_free(redacted);
}

static void passwords_are_hidden_wherever_the_url_holds_them(void **state) {
  expect_redacted("postgres://hub:s3cret@db:5432/hub", "postgres://hub:****@db:5432/hub");
  expect_redacted("postgres://hub:p@ss@db/hub", "postgres://hub:****@db/hub");
  expect_redacted("postgres://hub@db/hub", "postgres://hub@db/hub");
  expect_redacted("postgres://db/hub?sslmode=require&password=s3cret&x=1",
                  "postgres://db/hub?sslmode=require&password=****&x=1");
  expect_redacted("postgresql://db/hub?password=s3cret", "postgresql://db/hub?password=****");
  /* Not a parameter named password: left alone. */
  expect_redacted("postgres://db/hub?application_name=nopassword=1",
                  "postgres://db/hub?application_name=nopassword=1");
  /* A path (SQLite) has no password. */
  expect_redacted("/data/hub:db@x", "/data/hub:db@x");
}

static void migrations_count_up_from_one_to_the_schema_version(void **state) {
  size_t count = 0;
  const pn_store_migration *steps = pn_store_postgres_migrations(&count);
  assert_true(count >= 1);
  for (size_t i = 0; i < count; i++) {
    assert_int_equal(steps[i].version, (int)i + 1);
    assert_true(strlen(steps[i].description) > 0);
    assert_true(strlen(steps[i].sql) > 0);
    /* A step for every document table names its table; the others name none. */
    assert_int_equal(strstr(steps[i].sql, "{table}") != NULL, steps[i].per_table);
  }
  assert_int_equal(steps[count - 1].version, PN_STORE_SCHEMA_VERSION);
}

static void a_per_table_step_names_its_table_everywhere(void **state) {
  char *sql = pn_store_postgres_expand("CREATE INDEX {table}_id ON {table} (id);", "predictions");
  assert_string_equal(sql, "CREATE INDEX predictions_id ON predictions (id);");
  pn_free(sql);
  sql = pn_store_postgres_expand("SELECT 1", "models");
  assert_string_equal(sql, "SELECT 1");
  pn_free(sql);
}

static void sqlite_says_its_name_version_and_no_failure(void **state) {
  char path[] = "/tmp/pinion-test-store-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  assert_string_equal(pn_store_engine_name(store), "SQLite");
  int version = 0;
  assert_int_equal(pn_store_schema_version(store, &version), 0);
  assert_int_equal(version, PN_STORE_SCHEMA_VERSION);
  json_t *doc = NULL;
  assert_int_equal(pn_store_get(store, PN_STORE_MODELS, "absent", &doc), PN_ENOENT);
  assert_null(pn_store_failure(store));
  assert_int_equal(pn_store_get(store, "no_such_table", "x", &doc), PN_EINVAL);
  pn_store_close(store);
  unlink(path);
  char wal[64];
  snprintf(wal, sizeof wal, "%s-wal", path);
  unlink(wal);
  snprintf(wal, sizeof wal, "%s-shm", path);
  unlink(wal);
}

static void a_terminal_state_is_written_once(void **state) {
  char path[] = "/tmp/pinion-test-store-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  static const char *const active[] = {"starting", "processing", NULL};
  pn_store_keys keys = {.id = "p1", .account = "alice", .parent = "prediction",
                        .status = "starting", .created_at = "2025-01-01T00:00:00Z"};
  json_t *doc = json_pack("{s:s, s:s}", "id", "p1", "status", "starting");
  assert_int_equal(pn_store_insert(store, PN_STORE_PREDICTIONS, &keys, doc), 0);
  keys.status = "processing";
  assert_int_equal(pn_store_update_from(store, PN_STORE_PREDICTIONS, &keys, doc, active), 0);
  /* Two writers conclude from `processing`: the first wins, the second learns it lost. */
  keys.status = "succeeded";
  json_object_set_new(doc, "status", json_string("succeeded"));
  assert_int_equal(pn_store_update_from(store, PN_STORE_PREDICTIONS, &keys, doc, active), 0);
  keys.status = "canceled";
  json_object_set_new(doc, "status", json_string("canceled"));
  assert_int_equal(pn_store_update_from(store, PN_STORE_PREDICTIONS, &keys, doc, active),
                   PN_ESTATE);
  assert_int_equal(pn_store_failure_code(store), 0);
  json_t *stored = NULL;
  assert_int_equal(pn_store_get(store, PN_STORE_PREDICTIONS, "p1", &stored), 0);
  assert_string_equal(json_string_value(json_object_get(stored, "status")), "succeeded");
  json_decref(stored);
  keys.id = "absent";
  assert_int_equal(pn_store_update_from(store, PN_STORE_PREDICTIONS, &keys, doc, active),
                   PN_ENOENT);
  json_decref(doc);
  pn_store_close(store);
  unlink(path);
  char wal[64];
  snprintf(wal, sizeof wal, "%s-wal", path);
  unlink(wal);
  snprintf(wal, sizeof wal, "%s-shm", path);
  unlink(wal);
}

static void placeholders_count_the_statuses(void **state) {
  static const char *const two[] = {"starting", "processing", NULL};
  int count = 0;
  char *text = pn_store_status_params(two, 8, '$', &count);
  assert_string_equal(text, "$8, $9");
  assert_int_equal(count, 2);
  pn_free(text);
  text = pn_store_status_params(two, 8, '?', &count);
  assert_string_equal(text, "?8, ?9");
  pn_free(text);
}

static void an_unreachable_postgresql_is_named_without_its_password(void **state) {
  pn_store *store = NULL;
  char *error = NULL;
  /* Port 1 on loopback: nothing listens there, so the refusal is immediate. */
  int rc = pn_store_open("postgres://hub:s3cret@127.0.0.1:1/hub", &store, &error);
  assert_null(store);
  assert_non_null(error);
  if (rc == PN_EUNSUPPORTED) { /* no libpq on this machine: the error says what to install */
    assert_non_null(strstr(error, "libpq5"));
  } else {
    assert_int_equal(rc, PN_ECLOSED);
    assert_non_null(
        strstr(error, "cannot connect to PostgreSQL at postgres://hub:****@127.0.0.1:1/hub"));
    assert_null(strstr(error, "s3cret"));
  }
  pn_free(error);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_postgres_scheme_picks_postgresql_and_anything_else_sqlite),
      cmocka_unit_test(passwords_are_hidden_wherever_the_url_holds_them),
      cmocka_unit_test(migrations_count_up_from_one_to_the_schema_version),
      cmocka_unit_test(a_per_table_step_names_its_table_everywhere),
      cmocka_unit_test(sqlite_says_its_name_version_and_no_failure),
      cmocka_unit_test(an_unreachable_postgresql_is_named_without_its_password),
      cmocka_unit_test(a_terminal_state_is_written_once),
      cmocka_unit_test(placeholders_count_the_statuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
