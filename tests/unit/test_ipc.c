/* Unit tests for the worker protocol's framing (runtime/ipc.c): round trips, frames
 * split across reads, and every malformed frame the decoder must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "runtime/ipc.h"

#include <string.h>

static void frame(const char *payload, pn_buf *out) {
  size_t length = strlen(payload);
  unsigned char header[4] = {(unsigned char)(length >> 24), (unsigned char)(length >> 16),
                             (unsigned char)(length >> 8), (unsigned char)length};
  pn_buf_append(out, header, 4);
  pn_buf_append(out, payload, length);
}

static void encode_then_decode_round_trips(void **state) {
  json_t *message = json_pack("{s:s, s:s, s:{s:i}}", "type", "predict", "id", "p1", "input", "n", 3);
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  assert_int_equal(pn_ipc_encode(message, &buf), 0);
  assert_int_equal(buf.length, 4 + strlen("{\"type\":\"predict\",\"id\":\"p1\",\"input\":{\"n\":3}}"));
  assert_int_equal((unsigned char)buf.data[3], buf.length - 4);
  json_t *decoded = NULL;
  size_t consumed = 0;
  char *error = NULL;
  assert_int_equal(pn_ipc_decode((unsigned char *)buf.data, buf.length, &decoded, &consumed, &error), 1);
  assert_int_equal(consumed, buf.length);
  assert_true(json_equal(decoded, message));
  json_decref(decoded);
  json_decref(message);
  pn_buf_free(&buf);
}

/* The worker's json.loads makes an int of "1" and a float of "1.0": a real keeps its
 * point or exponent (and -0.0 its sign), so a float input reaches Python a float. */
static void reals_stay_reals_and_text_is_utf8(void **state) {
  const char *text = "{\"type\":\"predict\",\"input\":{\"a\":1.0,\"b\":0.1,\"c\":1e16,\"d\":-0.0,"
                     "\"e\":2,\"f\":[1.5e-7],\"s\":\"\\u00e9\\\"\\n\\u0001/\"}}";
  const char *expected = "{\"type\":\"predict\",\"input\":{\"a\":1.0,\"b\":0.1,\"c\":1e16,\"d\":-0.0,"
                         "\"e\":2,\"f\":[1.5e-7],\"s\":\"\xc3\xa9\\\"\\n\\u0001/\"}}";
  json_t *message = json_loads(text, 0, NULL);
  assert_non_null(message);
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  assert_int_equal(pn_ipc_encode(message, &buf), 0);
  assert_int_equal(buf.length, 4 + strlen(expected));
  assert_memory_equal(buf.data + 4, expected, strlen(expected));
  json_decref(message);
  pn_buf_free(&buf);
}

/* The runner writes its `predict` and `predict_batch` frames by hand between
 * pn_ipc_frame_begin and pn_ipc_frame_end, after frames already in the buffer. */
static void frames_written_by_hand_decode(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  pn_buf_append_str(&buf, "queued");
  size_t start;
  assert_int_equal(pn_ipc_frame_begin(&buf, &start), 0);
  assert_int_equal(start, 6);
  pn_buf_append_str(&buf, "{\"type\":\"predict_batch\",\"items\":[{\"id\":");
  assert_int_equal(pn_json_write_string("a\"\xc3\xa9", 4, &buf), 0);
  pn_buf_append_str(&buf, "}]}");
  assert_int_equal(pn_ipc_frame_end(&buf, start), 0);
  json_t *decoded = NULL;
  size_t consumed = 0;
  char *error = NULL;
  assert_int_equal(pn_ipc_decode((unsigned char *)buf.data + 6, buf.length - 6, &decoded, &consumed,
                                 &error),
                   1);
  assert_int_equal(consumed, buf.length - 6);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(decoded, "items"), 0), "id")),
                      "a\"\xc3\xa9");
  json_decref(decoded);
  pn_buf_free(&buf);
  /* Past the buffer's ceiling the frame fails with the buffer's code, once, at its end. */
  pn_buf_init(&buf, 16);
  assert_int_equal(pn_ipc_frame_begin(&buf, &start), 0);
  pn_buf_append_str(&buf, "{\"type\":\"far too long\"}");
  assert_int_equal(pn_ipc_frame_end(&buf, start), PN_ETOOBIG);
  pn_buf_free(&buf);
}

static void partial_frames_need_more_bytes(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  frame("{\"type\":\"done\",\"id\":\"x\"}", &buf);
  for (size_t cut = 0; cut < buf.length; cut++) {
    json_t *decoded = NULL;
    size_t consumed = 7;
    char *error = NULL;
    assert_int_equal(pn_ipc_decode((unsigned char *)buf.data, cut, &decoded, &consumed, &error), 0);
    assert_null(decoded);
    assert_int_equal(consumed, 0);
    assert_null(error);
  }
  pn_buf_free(&buf);
}

static void two_frames_in_one_read(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  frame("{\"type\":\"a\"}", &buf);
  frame("{\"type\":\"b\"}", &buf);
  json_t *decoded = NULL;
  size_t consumed = 0;
  char *error = NULL;
  assert_int_equal(pn_ipc_decode((unsigned char *)buf.data, buf.length, &decoded, &consumed, &error), 1);
  assert_string_equal(json_string_value(json_object_get(decoded, "type")), "a");
  json_decref(decoded);
  assert_int_equal(pn_ipc_decode((unsigned char *)buf.data + consumed, buf.length - consumed,
                                 &decoded, &consumed, &error),
                   1);
  assert_string_equal(json_string_value(json_object_get(decoded, "type")), "b");
  json_decref(decoded);
  pn_buf_free(&buf);
}

static void expect_protocol_error(const unsigned char *bytes, size_t length, const char *message) {
  json_t *decoded = NULL;
  size_t consumed = 0;
  char *error = NULL;
  assert_int_equal(pn_ipc_decode(bytes, length, &decoded, &consumed, &error), PN_EPROTO);
  assert_null(decoded);
  assert_non_null(error);
  assert_string_equal(error, message);
  pn_free(error);
}

static void malformed_frames_are_refused(void **state) {
  const unsigned char too_short[] = {0, 0, 0, 1, '{'};
  expect_protocol_error(too_short, sizeof too_short, "frame of 1 bytes is outside 2..67108864");
  const unsigned char too_long[] = {0x04, 0, 0, 1};
  expect_protocol_error(too_long, sizeof too_long, "frame of 67108865 bytes is outside 2..67108864");
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  frame("[1,2]", &buf);
  expect_protocol_error((unsigned char *)buf.data, buf.length,
                        "frame is not an object with a string \"type\"");
  pn_buf_reset(&buf);
  frame("{\"type\":5}", &buf);
  expect_protocol_error((unsigned char *)buf.data, buf.length,
                        "frame is not an object with a string \"type\"");
  pn_buf_reset(&buf);
  frame("{\"type\":", &buf);
  json_t *decoded = NULL;
  size_t consumed = 0;
  char *error = NULL;
  assert_int_equal(pn_ipc_decode((unsigned char *)buf.data, buf.length, &decoded, &consumed, &error),
                   PN_EPROTO);
  assert_true(strncmp(error, "frame is not JSON: ", 19) == 0);
  pn_free(error);
  pn_buf_free(&buf);
}

static void encode_survives_allocation_failures(void **state) {
  json_t *message = json_pack("{s:s}", "type", "x");
  for (long n = 0; n < 10; n++) {
    pn_buf buf;
    pn_buf_init(&buf, 1024);
    pn_alloc_fail_after(n);
    int rc = pn_ipc_encode(message, &buf);
    pn_alloc_fail_after(-1);
    assert_true(rc == 0 || rc == PN_ENOMEM);
    pn_buf_free(&buf);
  }
  json_decref(message);
}

int main(void) {
  pn_alloc_install_json();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encode_then_decode_round_trips),
      cmocka_unit_test(reals_stay_reals_and_text_is_utf8),
      cmocka_unit_test(frames_written_by_hand_decode),
      cmocka_unit_test(partial_frames_need_more_bytes),
      cmocka_unit_test(two_frames_in_one_read),
      cmocka_unit_test(malformed_frames_are_refused),
      cmocka_unit_test(encode_survives_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
