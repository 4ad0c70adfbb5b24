/* Unit tests for the prediction object (runtime/prediction.c): logs past their
 * ceiling keep the newest text behind a marker that counts what was dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "runtime/prediction.h"

#include <stdio.h>
#include <string.h>

static void logs_past_the_ceiling_carry_a_marker(void **state) {
  pn_prediction *prediction = pn_prediction_new("p1", NULL, NULL);
  assert_non_null(prediction);
  size_t chunk = 1024 * 1024;
  char *text = pn_malloc(chunk);
  assert_non_null(text);
  size_t written = 0;
  for (int i = 0; i < 40; i++) {
    memset(text, 'a' + i % 26, chunk);
    pn_prediction_append_logs(prediction, text, chunk);
    written += chunk;
  }
  memcpy(text, "the end\n", 8);
  pn_prediction_append_logs(prediction, text, 8);
  written += 8;
  pn_free(text);
  const pn_buf *logs = &prediction->logs;
  assert_true(logs->length <= PN_PREDICTION_LOGS_MAX);
  assert_true(prediction->logs_dropped > 0);
  char marker[64];
  snprintf(marker, sizeof marker, "[... %zu bytes truncated]\n", prediction->logs_dropped);
  assert_int_equal(strncmp(logs->data, marker, strlen(marker)), 0);
  /* Every byte is either kept or counted as dropped, and the newest text is kept. */
  assert_int_equal(logs->length - strlen(marker) + prediction->logs_dropped, written);
  assert_string_equal(logs->data + logs->length - 8, "the end\n");
  pn_prediction_unref(prediction);
}

static void one_huge_write_keeps_its_tail_and_starts_on_a_character(void **state) {
  pn_prediction *prediction = pn_prediction_new("p2", NULL, NULL);
  size_t length = PN_PREDICTION_LOGS_MAX;
  char *text = pn_malloc(length);
  assert_non_null(text);
  /* "é" is two bytes: cutting at an odd offset would split one. */
  for (size_t i = 0; i + 1 < length; i += 2) {
    text[i] = (char)0xC3;
    text[i + 1] = (char)0xA9;
  }
  pn_prediction_append_logs(prediction, text + 1, length - 1);
  pn_free(text);
  const char *data = prediction->logs.data;
  assert_int_equal(strncmp(data, "[... ", 5), 0);
  const char *kept = strchr(data, '\n') + 1;
  assert_int_equal((unsigned char)kept[0], 0xC3);
  pn_prediction_unref(prediction);
}

int main(void) {
  pn_alloc_install_json();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(logs_past_the_ceiling_carry_a_marker),
      cmocka_unit_test(one_huge_write_keeps_its_tail_and_starts_on_a_character),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
