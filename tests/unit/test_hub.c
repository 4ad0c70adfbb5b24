/* Unit tests for the hub's pure parts: webhook signatures (Svix's test vector), ids,
 * cursors, the multipart parser, the route matcher, the stream's event format, and the
 * SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "director/sandbox.h"
#include "hub/ids.h"
#include "hub/metrics.h"
#include "hub/multipart.h"
#include "hub/owner.h"
#include "hub/route.h"
#include "hub/sessions.h"
#include "hub/stream.h"
#include "hub/webhooks.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void webhook_signature_matches_the_svix_vector(void **state) {
  const char *body = "{\"test\": 2432232314}";
  char *signature = NULL;
  assert_int_equal(pn_hub_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                       "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                       strlen(body), &signature),
                   0);
  assert_string_equal(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  pn_free(signature);
}

static void webhook_signature_rejects_a_secret_that_is_not_base64(void **state) {
  char *signature = NULL;
  assert_int_equal(pn_hub_webhook_sign("whsec_!!!!", "msg_x", 1, "{}", 2, &signature), PN_EINVAL);
  assert_null(signature);
}

static void webhook_filter_parses_names_and_rejects_others(void **state) {
  unsigned events = 0;
  assert_int_equal(pn_webhook_events_parse(NULL, &events, NULL), 0);
  assert_int_equal(events, PN_WEBHOOK_ALL);
  json_t *filter = json_pack("[s,s]", "start", "completed");
  assert_int_equal(pn_webhook_events_parse(filter, &events, NULL), 0);
  assert_int_equal(events, PN_WEBHOOK_START | PN_WEBHOOK_COMPLETED);
  json_t *names = pn_webhook_events_json(events);
  assert_string_equal(json_string_value(json_array_get(names, 1)), "completed");
  json_decref(names);
  json_decref(filter);
  filter = json_pack("[s]", "finished");
  assert_int_equal(pn_webhook_events_parse(filter, &events, NULL), PN_EINVAL);
  json_decref(filter);
}

static void ids_are_26_crockford_characters(void **state) {
  unsigned char zeros[16] = {0}, ones[16];
  memset(ones, 0xff, sizeof ones);
  char out[27];
  pn_hub_id_encode(zeros, out);
  assert_string_equal(out, "00000000000000000000000000");
  pn_hub_id_encode(ones, out);
  assert_string_equal(out, "zzzzzzzzzzzzzzzzzzzzzzzzzw");
  char first[27], second[27];
  assert_int_equal(pn_hub_id_uuid7(1700000000000ull, first), 0);
  assert_int_equal(pn_hub_id_uuid7(1700000000001ull, second), 0);
  assert_int_equal(strlen(first), 26);
  assert_true(strcmp(first, second) < 0); /* time-ordered */
  for (const char *at = first; *at; at++)
    assert_non_null(strchr("0123456789abcdefghjkmnpqrstvwxyz", *at));
}

static void tokens_have_the_r8_shape(void **state) {
  char token[PN_HUB_TOKEN_SIZE];
  assert_int_equal(pn_hub_token_new(PN_HUB_TOKEN_PREFIX, token), 0);
  assert_int_equal(strlen(token), 43);
  assert_memory_equal(token, "r8_", 3);
  assert_false(pn_hub_token_is_director(token));
}

static void director_credentials_have_their_own_prefix(void **state) {
  char token[PN_HUB_TOKEN_SIZE];
  assert_int_equal(pn_hub_token_new(PN_HUB_DIRECTOR_TOKEN_PREFIX, token), 0);
  assert_int_equal(strlen(token), 44);
  assert_memory_equal(token, "pnd_", 4);
  assert_true(pn_hub_token_is_director(token));
  assert_false(pn_hub_token_is_director("r8_pnd_"));
  assert_int_equal(pn_hub_token_new("a-prefix-far-too-long-", token), PN_EINVAL);
}

static void cursors_round_trip_and_reject_foreign_text(void **state) {
  char *cursor = pn_hub_cursor_encode("2026-01-02T03:04:05.000006Z", "alice/model");
  assert_non_null(cursor);
  assert_null(strpbrk(cursor, "+/="));
  char *created_at = NULL, *id = NULL;
  assert_int_equal(pn_hub_cursor_decode(cursor, &created_at, &id), 0);
  assert_string_equal(created_at, "2026-01-02T03:04:05.000006Z");
  assert_string_equal(id, "alice/model");
  pn_free(created_at);
  pn_free(id);
  pn_free(cursor);
  assert_int_equal(pn_hub_cursor_decode("bm9iYXI", &created_at, &id), PN_EPARSE); /* "nobar" */
  assert_int_equal(pn_hub_cursor_decode("!!!", &created_at, &id), PN_EPARSE);
}

static void multipart_reads_the_js_shape(void **state) {
  const char body[] = "--XyZ\r\n"
                      "Content-Disposition: form-data; name=\"content\"; filename=\"a b.png\"\r\n"
                      "Content-Type: image/png\r\n\r\n"
                      "\x89PNG\r\n--XyZnot-a-boundary\r\n"
                      "--XyZ\r\n"
                      "Content-Disposition: form-data; name=\"metadata\"; filename=\"blob\"\r\n"
                      "Content-Type: application/json\r\n\r\n"
                      "{\"k\":1}\r\n"
                      "--XyZ--\r\n";
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *error = NULL;
  assert_int_equal(pn_hub_multipart_parse("multipart/form-data; boundary=XyZ", body,
                                          sizeof body - 1, &parts, &count, &error),
                   0);
  assert_int_equal(count, 2);
  const pn_hub_part *content = pn_hub_part_find(parts, count, "content");
  assert_string_equal(content->filename, "a b.png");
  assert_string_equal(content->content_type, "image/png");
  assert_int_equal(content->length, strlen("\x89PNG\r\n--XyZnot-a-boundary"));
  const pn_hub_part *metadata = pn_hub_part_find(parts, count, "metadata");
  assert_int_equal(metadata->length, 7);
  assert_memory_equal(metadata->data, "{\"k\":1}", 7);
  pn_hub_parts_free(parts, count);
}

static void multipart_reads_the_python_shape_with_quoted_boundary(void **state) {
  const char body[] = "preamble\r\n--b0\r\n"
                      "Content-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                      "{\"x\": \"y\"}\r\n"
                      "--b0\r\n"
                      "Content-Disposition: form-data; name=\"content\"; filename=\"f.txt\"\r\n\r\n"
                      "\r\n"
                      "--b0--";
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *error = NULL;
  assert_int_equal(pn_hub_multipart_parse("multipart/form-data; boundary=\"b0\"", body,
                                          sizeof body - 1, &parts, &count, &error),
                   0);
  assert_int_equal(count, 2);
  const pn_hub_part *content = pn_hub_part_find(parts, count, "content");
  assert_null(content->content_type);
  assert_int_equal(content->length, 0);
  assert_null(parts[0].filename);
  pn_hub_parts_free(parts, count);
}

static void multipart_rejects_bodies_without_boundaries(void **state) {
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *error = NULL;
  assert_int_equal(pn_hub_multipart_parse("multipart/form-data", "x", 1, &parts, &count, &error),
                   PN_EPARSE);
  assert_int_equal(pn_hub_multipart_parse("multipart/form-data; boundary=q", "--q\r\nno end", 12,
                                          &parts, &count, &error),
                   PN_EPARSE);
  assert_non_null(error);
}

static void store_keeps_rows_and_pages_newest_first(void **state) {
  char *dir = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-store", &dir), 0);
  char *path = pn_fs_join(dir, "hub.db");
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  for (int i = 0; i < 5; i++) {
    char id[16], created[40];
    snprintf(id, sizeof id, "p%d", i);
    snprintf(created, sizeof created, "2026-01-01T00:00:0%d.000000Z", i);
    json_t *doc = json_pack("{s:s, s:i}", "id", id, "n", i);
    pn_store_keys keys = {
        .id = id, .account = i % 2 ? "bob" : "alice", .status = "starting", .created_at = created};
    assert_int_equal(pn_store_insert(store, PN_STORE_PREDICTIONS, &keys, doc), 0);
    assert_int_equal(pn_store_insert(store, PN_STORE_PREDICTIONS, &keys, doc), PN_EEXISTS);
    json_decref(doc);
  }
  pn_store_query query = {.account = "alice", .limit = 2};
  json_t *rows = NULL;
  int more = 0;
  assert_int_equal(pn_store_list(store, PN_STORE_PREDICTIONS, &query, &rows, &more), 0);
  assert_int_equal(json_array_size(rows), 2);
  assert_true(more);
  assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "id")), "p4");
  assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "id")), "p2");
  json_decref(rows);
  query.after_created_at = "2026-01-01T00:00:02.000000Z";
  query.after_id = "p2";
  assert_int_equal(pn_store_list(store, PN_STORE_PREDICTIONS, &query, &rows, &more), 0);
  assert_int_equal(json_array_size(rows), 1);
  assert_false(more);
  json_decref(rows);
  json_t *doc = json_pack("{s:s, s:i}", "id", "p0", "n", 100);
  pn_store_keys keys = {.id = "p0",
                        .account = "alice",
                        .status = "succeeded",
                        .created_at = "2026-01-01T00:00:00.000000Z"};
  assert_int_equal(pn_store_update(store, PN_STORE_PREDICTIONS, &keys, doc), 0);
  json_decref(doc);
  static const char *const active[] = {"starting", "processing", NULL};
  pn_store_query running = {.statuses = active};
  assert_int_equal(pn_store_list(store, PN_STORE_PREDICTIONS, &running, &rows, &more), 0);
  assert_int_equal(json_array_size(rows), 4);
  json_decref(rows);
  json_t *got = NULL;
  assert_int_equal(pn_store_get(store, PN_STORE_PREDICTIONS, "p0", &got), 0);
  assert_int_equal(json_integer_value(json_object_get(got, "n")), 100);
  json_decref(got);
  assert_int_equal(pn_store_delete(store, PN_STORE_PREDICTIONS, "p0"), 0);
  assert_int_equal(pn_store_get(store, PN_STORE_PREDICTIONS, "p0", &got), PN_ENOENT);
  assert_int_equal(pn_store_insert(store, "not_a_table", &keys, NULL), PN_EINVAL);
  pn_store_close(store);
  pn_fs_remove_tree(dir);
  pn_free(path);
  pn_free(dir);
}

static void store_tokens_resolve_until_revoked(void **state) {
  char *dir = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-store", &dir), 0);
  char *path = pn_fs_join(dir, "hub.db");
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  assert_int_equal(pn_store_token_add(store, "t1", "hash1", "alice", NULL, "2026"), 0);
  pn_store_credential credential;
  assert_int_equal(pn_store_token_find(store, "hash1", &credential), 0);
  assert_string_equal(credential.account, "alice");
  assert_string_equal(credential.token_id, "t1");
  assert_null(credential.last_used_at);
  pn_store_credential_clear(&credential);
  assert_int_equal(pn_store_token_used(store, "t1", "2026-12-04T10:00:00.000000Z"), 0);
  assert_int_equal(pn_store_token_find(store, "hash1", &credential), 0);
  assert_string_equal(credential.last_used_at, "2026-12-04T10:00:00.000000Z");
  pn_store_credential_clear(&credential);
  assert_int_equal(pn_store_token_revoke(store, "t1"), 0);
  assert_int_equal(pn_store_token_find(store, "hash1", &credential), PN_ENOENT);
  assert_null(credential.account);
  assert_int_equal(pn_store_token_revoke(store, "nope"), PN_ENOENT);
  json_t *tokens = NULL;
  assert_int_equal(pn_store_token_list(store, &tokens), 0);
  assert_int_equal(json_array_size(tokens), 1);
  json_t *token = json_array_get(tokens, 0);
  assert_true(json_is_true(json_object_get(token, "revoked")));
  assert_string_equal(json_string_value(json_object_get(token, "last_used_at")),
                      "2026-12-04T10:00:00.000000Z");
  json_decref(tokens);
  pn_store_close(store);
  pn_fs_remove_tree(dir);
  pn_free(path);
  pn_free(dir);
}

/* Found by tests/fuzz/fuzz_multipart: a body whose last bytes are a delimiter line was
 * read one byte past its end. */
static void multipart_body_ending_in_a_delimiter_line_is_malformed(void **state) {
  static const char text[] = "--b inside\n";
  char *body = malloc(sizeof text - 1); /* exactly the body: no terminator to lean on */
  assert_non_null(body);
  memcpy(body, text, sizeof text - 1);
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *error = NULL;
  assert_int_equal(pn_hub_multipart_parse("multipart/form-data; boundary=b", body,
                                          sizeof text - 1, &parts, &count, &error),
                   PN_EPARSE);
  assert_string_equal(error, "the multipart body is malformed");
  assert_null(parts);
  free(body);
}

static void route_match_decodes_segments(void **state) {
  char *params[PN_HUB_ROUTE_PARAMS];
  assert_int_equal(pn_hub_route_match("/v1/models/{}/{}", "/v1/models/al%69ce/hello%20x/", params),
                   1);
  assert_string_equal(params[0], "alice");
  assert_string_equal(params[1], "hello x");
  assert_null(params[2]);
  pn_free(params[0]);
  pn_free(params[1]);
  assert_int_equal(pn_hub_route_match("/v1/models/{}/{}", "/v1/models/alice", params), 0);
  assert_int_equal(pn_hub_route_match("/v1/models/{}/{}", "/v1/models/alice//", params), 0);
  assert_int_equal(pn_hub_route_match("/v1/models/{}/{}", "/v1/models/a/b/c", params), 0);
}

/* A decoded segment must not smuggle a '/' or a NUL: "a%00b" used to match as "a" (so
 * every lookup saw a different name than the URL showed), "a%2Fb" as "a/b". A failed
 * match leaves nothing for the caller to free. */
static void route_match_refuses_nul_and_slash_in_segments(void **state) {
  char *params[PN_HUB_ROUTE_PARAMS] = {0};
  assert_int_equal(pn_hub_route_match("/v1/models/{}/{}", "/v1/models/alice/a%00b", params), 0);
  assert_int_equal(pn_hub_route_match("/v1/models/{}/{}", "/v1/models/alice/a%2Fb", params), 0);
  assert_int_equal(pn_hub_route_match("/v1/files/{}", "/v1/files/%2f", params), 0);
  for (int i = 0; i < PN_HUB_ROUTE_PARAMS; i++)
    assert_null(params[i]);
}

/* A lone CR ends a line for an SSE reader: text from a model's output that held
 * "\revent: done" used to reach clients as a field of its own. */
static void stream_event_breaks_lines_at_cr_lf_and_crlf(void **state) {
  pn_buf out;
  pn_buf_init(&out, 4096);
  assert_int_equal(pn_hub_stream_format("", 7, "output", "a\revent: done\r\nb\nc", &out), 0);
  assert_string_equal(out.data, "id: 7\nevent: output\ndata: a\ndata: event: done\ndata: b\n"
                                "data: c\n\n");
  pn_buf_reset(&out);
  assert_int_equal(pn_hub_stream_format("", 8, "done", "{}", &out), 0);
  assert_string_equal(out.data, "id: 8\nevent: done\ndata: {}\n\n");
  pn_buf_reset(&out);
  assert_int_equal(pn_hub_stream_format("row-", 9, "done", "{}", &out), 0);
  assert_string_equal(out.data, "id: row-9\nevent: done\ndata: {}\n\n");
  pn_buf_free(&out);
}

/* A reader resumes after an id of the stream's own form; any other Last-Event-ID (an
 * id of the prediction's stream that expired, read against one rebuilt from its row)
 * is told apart, never read as a position in the wrong numbering. */
static void stream_resume_after_reads_only_the_streams_own_ids(void **state) {
  size_t after = 99;
  assert_int_equal(pn_hub_stream_resume_after("", NULL, &after), 0);
  assert_int_equal(after, 0);
  assert_int_equal(pn_hub_stream_resume_after("row-", "", &after), 0);
  assert_int_equal(after, 0);
  assert_int_equal(pn_hub_stream_resume_after("", "7", &after), 0);
  assert_int_equal(after, 7);
  assert_int_equal(pn_hub_stream_resume_after("row-", "row-12", &after), 0);
  assert_int_equal(after, 12);
  assert_int_equal(pn_hub_stream_resume_after("", "9999999999999999999", &after), 0);
  assert_true(after == (size_t)9999999999999999999u);
  assert_int_equal(pn_hub_stream_resume_after("row-", "7", &after), PN_ENOENT);
  assert_int_equal(after, 0);
  assert_int_equal(pn_hub_stream_resume_after("", "row-7", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("row-", "row-", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("row-", "row-07", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("row-", "row-0", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("", "7 ", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("", "-7", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("", "1733:5", &after), PN_ENOENT);
  assert_int_equal(pn_hub_stream_resume_after("", "10000000000000000000", &after), PN_ENOENT);
}

static void store_sessions_end_by_expiry_deletion_and_revocation(void **state) {
  char *dir = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-store", &dir), 0);
  char *path = pn_fs_join(dir, "hub.db");
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  assert_int_equal(pn_store_token_add(store, "t1", "token1", "alice", NULL, "2026"), 0);
  assert_int_equal(pn_store_token_add(store, "t2", "token2", "alice", NULL, "2026"), 0);
  const char *created = "2026-12-04T10:00:00.000000Z", *expires = "2026-12-04T11:00:00.000000Z";
  assert_int_equal(pn_store_session_add(store, "s1", "alice", "t1", created, expires), 0);
  assert_int_equal(pn_store_session_add(store, "s2", "alice", "t1", created, expires), 0);
  assert_int_equal(pn_store_session_add(store, "s3", "alice", "t2", created, expires), 0);
  assert_int_equal(pn_store_session_add(store, "s3", "alice", "t2", created, expires), PN_EEXISTS);
  pn_store_credential credential;
  assert_int_equal(pn_store_session_find(store, "s1", "2026-12-04T10:30:00.000000Z", &credential),
                   0);
  assert_string_equal(credential.token_id, "t1");
  assert_string_equal(credential.account, "alice");
  pn_store_credential_clear(&credential);
  /* Expired at `now`, unknown, deleted, or its token revoked: no session. */
  assert_int_equal(pn_store_session_find(store, "s1", expires, &credential), PN_ENOENT);
  assert_int_equal(pn_store_session_find(store, "nope", created, &credential), PN_ENOENT);
  assert_int_equal(pn_store_session_delete(store, "s2"), 0);
  assert_int_equal(pn_store_session_delete(store, "s2"), PN_ENOENT);
  assert_int_equal(pn_store_session_find(store, "s2", created, &credential), PN_ENOENT);
  assert_int_equal(pn_store_token_revoke(store, "t1"), 0);
  assert_int_equal(pn_store_session_find(store, "s1", created, &credential), PN_ENOENT);
  assert_int_equal(pn_store_session_find(store, "s3", created, &credential), 0);
  pn_store_credential_clear(&credential);
  /* A later sign-in sweeps the sessions that expired. */
  assert_int_equal(
      pn_store_session_add(store, "s4", "alice", "t2", expires, "2026-12-04T12:00:00.000000Z"), 0);
  assert_int_equal(pn_store_session_delete(store, "s3"), PN_ENOENT);
  pn_store_close(store);
  pn_fs_remove_tree(dir);
  pn_free(path);
  pn_free(dir);
}

/* A database made before tokens had last_used_at gains the column when opened. */
static void store_adds_the_last_used_column_to_an_old_database(void **state) {
  char *dir = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-store", &dir), 0);
  char *path = pn_fs_join(dir, "hub.db");
  sqlite3 *old = NULL;
  assert_int_equal(sqlite3_open(path, &old), SQLITE_OK);
  assert_int_equal(sqlite3_exec(old,
                                "CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL "
                                "UNIQUE, account TEXT NOT NULL, name TEXT, created_at TEXT NOT "
                                "NULL, revoked INTEGER NOT NULL DEFAULT 0);"
                                "INSERT INTO tokens (id, hash, account, created_at) VALUES "
                                "('t1', 'hash1', 'alice', '2025');",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(old);
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  assert_int_equal(pn_store_token_used(store, "t1", "2026"), 0);
  pn_store_credential credential;
  assert_int_equal(pn_store_token_find(store, "hash1", &credential), 0);
  assert_string_equal(credential.last_used_at, "2026");
  pn_store_credential_clear(&credential);
  pn_store_close(store);
  assert_int_equal(pn_store_open(path, &store, &error), 0); /* a second open adds nothing */
  pn_store_close(store);
  pn_fs_remove_tree(dir);
  pn_free(path);
  pn_free(dir);
}

static void csrf_tokens_belong_to_one_session_and_one_hub(void **state) {
  pn_hub hub = {0};
  memset(hub.secret, 7, sizeof hub.secret);
  char first[65], again[65], other[65];
  assert_int_equal(pn_hub_session_csrf(&hub, "session-a", first), 0);
  assert_int_equal(pn_hub_session_csrf(&hub, "session-a", again), 0);
  assert_int_equal(pn_hub_session_csrf(&hub, "session-b", other), 0);
  assert_int_equal(strlen(first), 64);
  assert_string_equal(first, again);
  assert_string_not_equal(first, other);
  assert_true(pn_hub_session_csrf_valid(&hub, "session-a", first));
  assert_false(pn_hub_session_csrf_valid(&hub, "session-a", other));
  assert_false(pn_hub_session_csrf_valid(&hub, "session-a", NULL));
  assert_false(pn_hub_session_csrf_valid(&hub, "session-a", ""));
  first[63] = first[63] == '0' ? '1' : '0';
  assert_false(pn_hub_session_csrf_valid(&hub, "session-a", first));
  /* Another hub (another DATA/secret) makes other tokens for the same id. */
  pn_hub elsewhere = {0};
  memset(elsewhere.secret, 8, sizeof elsewhere.secret);
  assert_false(pn_hub_session_csrf_valid(&elsewhere, "session-a", again));
}


static void desired_instances_cover_demand_within_the_bounds(void **state) {
  /* min, max, slots, waiting, in flight */
  assert_int_equal(pn_hub_desired_instances(0, 3, 1, 0, 0), 0); /* scale to zero */
  assert_int_equal(pn_hub_desired_instances(1, 3, 1, 0, 0), 1); /* min kept */
  assert_int_equal(pn_hub_desired_instances(0, 3, 1, 2, 0), 2);
  assert_int_equal(pn_hub_desired_instances(0, 3, 1, 2, 1), 3);
  assert_int_equal(pn_hub_desired_instances(0, 3, 1, 50, 3), 3); /* max caps */
  assert_int_equal(pn_hub_desired_instances(0, 10, 4, 5, 0), 2); /* ceil(5 / 4) */
  assert_int_equal(pn_hub_desired_instances(0, 10, 4, 4, 4), 2);
  assert_int_equal(pn_hub_desired_instances(0, 10, 0, 3, 0), 3); /* slots < 1 read as 1 */
  assert_int_equal(pn_hub_desired_instances(2, 5, 1, -4, -1), 2);
}

static int exists(const char *dir, const char *name) {
  char *path = pn_fs_join(dir, name);
  struct stat info;
  int found = path && lstat(path, &info) == 0;
  pn_free(path);
  return found;
}

/* Replicas on one data folder: a live owner's part (its lock held, here by this very
 * process through another open file) is never swept; a dead owner's part (its lock
 * free) and an older pinion's lockless folder are. */
static void owner_sweep_takes_only_what_no_live_process_holds(void **state) {
  char *data = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-owner", &data), 0);
  char *instances = pn_fs_join(data, "instances");
  assert_int_equal(mkdir(instances, 0700), 0);
  pn_hub_owner *live = NULL, *other = NULL;
  char *error = NULL;
  assert_int_equal(pn_hub_owner_claim(data, &live, &error), 0);
  assert_int_equal(pn_hub_owner_claim(data, &other, &error), 0);
  assert_string_not_equal(pn_hub_owner_name(live), pn_hub_owner_name(other));
  char *token = pn_fs_join(pn_hub_owner_scratch(live), "0123abcd");
  assert_int_equal(mkdir(token, 0700), 0);
  /* A dead hub's part: its lock file is there, held by no one. */
  char *dead = pn_fs_join(instances, "host-1-deadbeef");
  char *dead_lock = pn_strfmt("%s.lock", dead);
  char *dead_token = pn_fs_join(dead, "4567cdef");
  assert_int_equal(mkdir(dead, 0700), 0);
  assert_int_equal(mkdir(dead_token, 0700), 0);
  assert_int_equal(pn_fs_write(dead_lock, "", 0), 0);
  /* An older pinion's scratch folder, without a lock. */
  char *legacy = pn_fs_join(instances, "89abcdef");
  assert_int_equal(mkdir(legacy, 0700), 0);

  assert_int_equal(pn_hub_owner_sweep(data, pn_sandbox_kill_strays), 2);
  assert_false(exists(instances, "host-1-deadbeef"));
  assert_false(exists(instances, "host-1-deadbeef.lock"));
  assert_false(exists(instances, "89abcdef"));
  assert_true(exists(pn_hub_owner_scratch(live), "0123abcd"));
  assert_true(pn_fs_is_dir(pn_hub_owner_scratch(other)));
  assert_int_equal(pn_hub_owner_sweep(data, pn_sandbox_kill_strays), 0); /* twice: the same */

  char *live_scratch = pn_strdup(pn_hub_owner_scratch(live));
  pn_hub_owner_release(live);
  assert_false(pn_fs_is_dir(live_scratch));
  pn_hub_owner_release(other);
  assert_int_equal(pn_hub_owner_sweep(data, pn_sandbox_kill_strays), 0);
  pn_fs_remove_tree(data);
  pn_free(live_scratch);
  pn_free(token);
  pn_free(dead);
  pn_free(dead_lock);
  pn_free(dead_token);
  pn_free(legacy);
  pn_free(instances);
  pn_free(data);
}

int main(void) {
  pn_alloc_install_json();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(webhook_signature_matches_the_svix_vector),
      cmocka_unit_test(desired_instances_cover_demand_within_the_bounds),
      cmocka_unit_test(webhook_signature_rejects_a_secret_that_is_not_base64),
      cmocka_unit_test(webhook_filter_parses_names_and_rejects_others),
      cmocka_unit_test(ids_are_26_crockford_characters),
      cmocka_unit_test(tokens_have_the_r8_shape),
      cmocka_unit_test(director_credentials_have_their_own_prefix),
      cmocka_unit_test(cursors_round_trip_and_reject_foreign_text),
      cmocka_unit_test(multipart_reads_the_js_shape),
      cmocka_unit_test(multipart_reads_the_python_shape_with_quoted_boundary),
      cmocka_unit_test(multipart_rejects_bodies_without_boundaries),
      cmocka_unit_test(multipart_body_ending_in_a_delimiter_line_is_malformed),
      cmocka_unit_test(route_match_decodes_segments),
      cmocka_unit_test(route_match_refuses_nul_and_slash_in_segments),
      cmocka_unit_test(stream_event_breaks_lines_at_cr_lf_and_crlf),
      cmocka_unit_test(stream_resume_after_reads_only_the_streams_own_ids),
      cmocka_unit_test(store_keeps_rows_and_pages_newest_first),
      cmocka_unit_test(store_tokens_resolve_until_revoked),
      cmocka_unit_test(store_sessions_end_by_expiry_deletion_and_revocation),
      cmocka_unit_test(store_adds_the_last_used_column_to_an_old_database),
      cmocka_unit_test(csrf_tokens_belong_to_one_session_and_one_hub),
      cmocka_unit_test(owner_sweep_takes_only_what_no_live_process_holds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
