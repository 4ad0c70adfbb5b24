/* Unit tests for core/: errors, the allocator's failure injection, buffers, clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/gpu.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/webhook_events.h"
#include "core/yaml_write.h"

#include <jansson.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <string.h>

static void error_messages_and_names(void **state) {
  assert_string_equal(pn_strerror(PN_ENOMEM), "out of memory");
  assert_string_equal(pn_errname(PN_ETOOBIG), "PN_ETOOBIG");
  assert_string_equal(pn_strerror(0), "success");
  assert_string_equal(pn_strerror(-9999), "unknown error");
}

static void buffer_respects_its_limit(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 8);
  assert_int_equal(pn_buf_append_str(&buf, "hello"), 0);
  assert_int_equal(pn_buf_append_str(&buf, "!!!"), 0);
  assert_string_equal(buf.data, "hello!!!");
  pn_buf_consume(&buf, 5);
  assert_string_equal(buf.data, "!!!");
  assert_int_equal(pn_buf_appendf(&buf, "%d", 42), 0);
  assert_string_equal(buf.data, "!!!42");
  char *taken = pn_buf_take(&buf);
  assert_string_equal(taken, "!!!42");
  assert_null(buf.data);
  pn_free(taken);
  pn_buf_free(&buf);
}

/* As curl's dynbuf: the append past the ceiling frees the contents, and every later
 * append fails the same way, so a writer checks once at the end. */
static void buffer_failure_is_sticky(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 8);
  assert_int_equal(pn_buf_append_str(&buf, "hello"), 0);
  assert_int_equal(pn_buf_error(&buf), 0);
  assert_int_equal(pn_buf_append_str(&buf, ", world"), PN_ETOOBIG);
  assert_null(buf.data);
  assert_int_equal(buf.length, 0);
  assert_int_equal(pn_buf_append_str(&buf, "x"), PN_ETOOBIG);
  assert_int_equal(pn_buf_appendf(&buf, "%d", 1), PN_ETOOBIG);
  assert_int_equal(pn_buf_reserve(&buf, 1), PN_ETOOBIG);
  assert_null(buf.data);
  assert_int_equal(pn_buf_error(&buf), PN_ETOOBIG);
  pn_buf_reset(&buf);
  assert_int_equal(pn_buf_error(&buf), 0);
  assert_int_equal(pn_buf_append_str(&buf, "again"), 0);
  assert_string_equal(buf.data, "again");
  pn_buf_free(&buf);

  pn_buf_init(&buf, 100);
  assert_int_equal(pn_buf_append_str(&buf, "kept"), 0);
  pn_alloc_fail_after(0);
  char more[70];
  memset(more, 'x', sizeof more);
  assert_int_equal(pn_buf_append(&buf, more, sizeof more), PN_ENOMEM);
  pn_alloc_fail_after(-1);
  assert_int_equal(pn_buf_append_str(&buf, "y"), PN_ENOMEM);
  assert_null(buf.data);
  pn_buf_free(&buf);
  assert_int_equal(pn_buf_error(&buf), 0);
}

static void allocation_failure_injection(void **state) {
  pn_alloc_fail_after(1);
  char *first = pn_strdup("a");
  char *second = pn_strdup("b");
  pn_alloc_fail_after(-1);
  assert_non_null(first);
  assert_null(second);
  pn_free(first);
  pn_buf buf;
  pn_buf_init(&buf, 100);
  pn_alloc_fail_after(0);
  assert_int_equal(pn_buf_append_str(&buf, "x"), PN_ENOMEM);
  pn_alloc_fail_after(-1);
  pn_buf_free(&buf);
}

static void rfc3339_formatting(void **state) {
  char text[40];
  uint64_t ns = 1764338200123456789ull; /* 2025-11-28T13:56:40.123456Z */
  assert_string_equal(pn_clock_format(ns, 0, text, sizeof text), "2025-11-28T13:56:40.123456Z");
  assert_string_equal(pn_clock_format(ns, 1, text, sizeof text),
                      "2025-11-28T13:56:40.123456+00:00");
}

static void files_round_trip_with_limit(void **state) {
  char *dir = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-test", &dir), 0);
  char *path = pn_fs_join(dir, "f.txt");
  assert_int_equal(pn_fs_write(path, "0123456789", 10), 0);
  char *data = NULL;
  size_t length = 0;
  assert_int_equal(pn_fs_read(path, 100, &data, &length), 0);
  assert_int_equal(length, 10);
  assert_string_equal(data, "0123456789");
  pn_free(data);
  assert_int_equal(pn_fs_read(path, 9, &data, &length), PN_ETOOBIG);
  assert_int_equal(pn_fs_read("/nonexistent/x", 9, &data, &length), PN_ENOENT);
  assert_int_equal(pn_fs_remove_tree(dir), 0);
  assert_false(pn_fs_is_dir(dir));
  pn_free(path);
  pn_free(dir);
}

static void touch(const char *dir, const char *name) {
  char *path = pn_fs_join(dir, name);
  pn_fs_write(path, "", 0);
  pn_free(path);
}

static void gpus_are_counted_from_device_files(void **state) {
  char *root = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-gpu", &root), 0);
  setenv("PINION_GPU_ROOT", root, 1);
  assert_int_equal(pn_gpu_count(), 0);
  char *dev = pn_fs_join(root, "dev");
  mkdir(dev, 0755);
  touch(dev, "nvidiactl");
  touch(dev, "nvidia-uvm");
  assert_int_equal(pn_gpu_count(), 0);
  touch(dev, "nvidia0");
  touch(dev, "nvidia1");
  assert_int_equal(pn_gpu_count(), 2);
  char *proc = pn_fs_join(root, "proc/driver/nvidia/gpus/0000:01:00.0");
  char *command = pn_strfmt("mkdir -p '%s'", proc);
  assert_int_equal(system(command), 0);
  assert_int_equal(pn_gpu_count(), 1); /* the driver's own list wins */
  unsetenv("PINION_GPU_ROOT");
  pn_fs_remove_tree(root);
  pn_free(command);
  pn_free(proc);
  pn_free(dev);
  pn_free(root);
}

/* An escape at every offset around the 8-byte steps of the writer's fast scan, for
 * each kind of byte that needs one, next to bytes (UTF-8, DEL) that do not. */
static void json_strings_escape_at_every_offset(void **state) {
  static const struct {
    char byte;
    const char *escaped;
  } kinds[] = {{'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\x01', "\\u0001"}, {'\x1f', "\\u001f"}};
  for (size_t kind = 0; kind < sizeof kinds / sizeof kinds[0]; kind++) {
    for (size_t offset = 0; offset < 20; offset++) {
      char text[32], expected[64];
      memset(text, 'a', sizeof text);
      text[3] = '\x7f';
      text[offset] = kinds[kind].byte;
      text[24] = '\0';
      snprintf(expected, sizeof expected, "\"%.*s%s%s\"", (int)offset, text, kinds[kind].escaped,
               text + offset + 1);
      json_t *value = json_string_nocheck(text);
      pn_buf out;
      pn_buf_init(&out, 1024);
      assert_int_equal(pn_json_write(value, 0, &out), 0);
      assert_string_equal(out.data, expected);
      pn_buf_free(&out);
      json_decref(value);
    }
  }
  json_t *unicode = json_string("caf\xc3\xa9 \xe2\x82\xac long enough to take the fast path");
  pn_buf out;
  pn_buf_init(&out, 1024);
  assert_int_equal(pn_json_write(unicode, 0, &out), 0);
  assert_string_equal(out.data, "\"caf\xc3\xa9 \xe2\x82\xac long enough to take the fast path\"");
  pn_buf_free(&out);
  json_decref(unicode);
}

static void webhook_events_filter_parses_and_prints(void **state) {
  unsigned mask = 0;
  char *error = NULL;
  assert_int_equal(pn_webhook_events_parse(NULL, &mask, &error), 0);
  assert_int_equal(mask, PN_WEBHOOK_ALL);
  json_t *filter = json_pack("[s,s]", "completed", "start");
  assert_int_equal(pn_webhook_events_parse(filter, &mask, &error), 0);
  assert_int_equal(mask, PN_WEBHOOK_START | PN_WEBHOOK_COMPLETED);
  json_t *printed = pn_webhook_events_json(mask);
  char *text = pn_json_dump(printed, PN_JSON_COMPACT);
  assert_string_equal(text, "[\"start\",\"completed\"]");
  pn_free(text);
  json_decref(printed);
  json_decref(filter);
  filter = json_pack("[s,i]", "logs", 7);
  assert_int_equal(pn_webhook_events_parse(filter, &mask, &error), PN_EINVAL);
  assert_string_equal(error, "webhook_events_filter[1]: unknown variant 7, expected one of "
                             "`start`, `output`, `logs`, `completed`");
  pn_free(error);
  assert_int_equal(pn_webhook_events_parse(filter, &mask, NULL), PN_EINVAL);
  json_decref(filter);
  filter = json_string("completed");
  assert_int_equal(pn_webhook_events_parse(filter, &mask, &error), PN_EINVAL);
  assert_string_equal(error, "webhook_events_filter must be a list of start, output, logs, completed");
  pn_free(error);
  json_decref(filter);
}

static void environment_numbers_fall_back_when_unset_or_bad(void **state) {
  unsetenv("PN_TEST_NUMBER");
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 4.5);
  setenv("PN_TEST_NUMBER", "", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 4.5);
  setenv("PN_TEST_NUMBER", "2.25", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 2.25);
  setenv("PN_TEST_NUMBER", "10", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 10);
  setenv("PN_TEST_NUMBER", "10.5", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 4.5);
  setenv("PN_TEST_NUMBER", "-1", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 4.5);
  setenv("PN_TEST_NUMBER", "3s", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 4.5);
  setenv("PN_TEST_NUMBER", "nan", 1);
  assert_true(pn_env_number("PN_TEST_NUMBER", "seconds", 0, 10, 4.5) == 4.5);
  unsetenv("PN_TEST_NUMBER");
}

/* Issue #14 item 4: the byte counts a progress line shows, and a hidden view draws
 * nothing (the CLI's tests see the drawing on a pseudo-terminal). */
static void progress_shows_bytes_and_stays_quiet_when_hidden(void **state) {
  char text[96];
  pn_progress_bytes_text(text, sizeof text, "Uploading", 512, 2048);
  assert_string_equal(text, "Uploading 512 B / 2.0 KiB (25%)");
  pn_progress_bytes_text(text, sizeof text, "Uploading", (uint64_t)3 << 29, (uint64_t)4 << 30);
  assert_string_equal(text, "Uploading 1.5 GiB / 4.0 GiB (37%)");
  pn_progress_bytes_text(text, sizeof text, "Downloading x.png", 1536, 0);
  assert_string_equal(text, "Downloading x.png 1.5 KiB");
  pn_progress_bytes_text(text, sizeof text, "x", 9, 4);
  assert_string_equal(text, "x 9 B / 4 B (100%)");
  pn_progress progress;
  pn_progress_init(&progress, 0);
  pn_progress_set(&progress, 1, "%s", "hidden");
  assert_int_equal(progress.drawn, 0);
  assert_int_equal(progress.last_draw_ns, 0);
  assert_false(pn_progress_wanted(1));
}


static void yaml_documents_quote_every_string_and_keep_the_order(void **state) {
  json_t *documents = json_loads(
      "[{\"kind\": \"Deployment\", \"values\": [\"on\", \"1.10\", \"null\", \"a \\\"b\\\"\\nc\", "
      "\"\u00e9\"], \"count\": 3, \"ratio\": 0.5, \"yes\": true, \"8\": 8, \"a b\": 1, \"no\": false, \"nothing\": null, "
      "\"empty\": {}, \"none\": [], \"nvidia.com/gpu\": 1}, {\"second\": \"doc\"}]",
      0, NULL);
  assert_non_null(documents);
  pn_buf text;
  pn_buf_init(&text, 1 << 16);
  assert_int_equal(pn_yaml_write_documents(documents, &text), 0);
  assert_string_equal(text.data, "kind: \"Deployment\"\n"
                                 "values:\n"
                                 "- \"on\"\n"
                                 "- \"1.10\"\n"
                                 "- \"null\"\n"
                                 "- \"a \\\"b\\\"\\nc\"\n"
                                 "- \"\u00e9\"\n"
                                 "count: 3\n"
                                 "ratio: 0.5\n"
                                 "\"yes\": true\n"
                                 "\"8\": 8\n"
                                 "\"a b\": 1\n"
                                 "\"no\": false\n"
                                 "nothing: null\n"
                                 "empty: {}\n"
                                 "none: []\n"
                                 "nvidia.com/gpu: 1\n"
                                 "---\n"
                                 "second: \"doc\"\n");
  pn_buf_free(&text);
  json_decref(documents);
  pn_buf_init(&text, 1 << 16);
  json_t *not_a_list = json_object();
  assert_int_equal(pn_yaml_write_documents(not_a_list, &text), PN_EINVAL);
  json_decref(not_a_list);
  pn_buf_free(&text);
  pn_buf_init(&text, 16);
  json_t *long_text = json_pack("[{s:s}]", "key", "a value longer than sixteen bytes");
  assert_int_equal(pn_yaml_write_documents(long_text, &text), PN_ETOOBIG);
  json_decref(long_text);
  pn_buf_free(&text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(yaml_documents_quote_every_string_and_keep_the_order),
      cmocka_unit_test(error_messages_and_names),
      cmocka_unit_test(json_strings_escape_at_every_offset),
      cmocka_unit_test(webhook_events_filter_parses_and_prints),
      cmocka_unit_test(environment_numbers_fall_back_when_unset_or_bad),
      cmocka_unit_test(buffer_respects_its_limit),
      cmocka_unit_test(buffer_failure_is_sticky),
      cmocka_unit_test(allocation_failure_injection),
      cmocka_unit_test(rfc3339_formatting),
      cmocka_unit_test(files_round_trip_with_limit),
      cmocka_unit_test(gpus_are_counted_from_device_files),
      cmocka_unit_test(progress_shows_bytes_and_stays_quiet_when_hidden),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
