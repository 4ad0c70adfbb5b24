/* Unit tests for core/encoding.c and core/mime.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/mime.h"

#include <string.h>

static void base64_matches_known_vectors(void **state) {
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "hello file"};
  static const char *encoded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
                                  "aGVsbG8gZmlsZQ=="};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    pn_buf buf;
    pn_buf_init(&buf, 1024);
    assert_int_equal(pn_base64_encode(plain[i], strlen(plain[i]), &buf), 0);
    assert_string_equal(buf.data ? buf.data : "", encoded[i]);
    pn_buf_reset(&buf);
    assert_int_equal(pn_base64_decode(encoded[i], strlen(encoded[i]), &buf), 0);
    assert_int_equal(buf.length, strlen(plain[i]));
    assert_memory_equal(buf.data ? buf.data : "", plain[i], strlen(plain[i]));
    pn_buf_free(&buf);
  }
}

static void base64_decode_tolerates_missing_padding_and_rejects_junk(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  assert_int_equal(pn_base64_decode("Zm9vYg", 6, &buf), 0);
  assert_string_equal(buf.data, "foob");
  pn_buf_reset(&buf);
  assert_int_equal(pn_base64_decode("Zm9v\nYmFy", 9, &buf), 0);
  assert_string_equal(buf.data, "foobar");
  pn_buf_reset(&buf);
  assert_int_equal(pn_base64_decode("Zm9v!!", 6, &buf), PN_EPARSE);
  pn_buf_free(&buf);
}

/* The textbook encoder, three bytes at a time: the reference for the fast one. */
static void reference_base64(const unsigned char *in, size_t length, char *out) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < length; i += 3) {
    unsigned a = in[i], b = i + 1 < length ? in[i + 1] : 0, c = i + 2 < length ? in[i + 2] : 0;
    out[o++] = table[a >> 2];
    out[o++] = table[((a & 3) << 4) | (b >> 4)];
    out[o++] = i + 1 < length ? table[((b & 15) << 2) | (c >> 6)] : '=';
    out[o++] = i + 2 < length ? table[c & 63] : '=';
  }
  out[o] = '\0';
}

static void base64_matches_the_reference_at_every_length(void **state) {
  unsigned char bytes[64];
  uint32_t seed = 12345;
  for (size_t i = 0; i < sizeof bytes; i++) {
    seed = seed * 1103515245u + 12345u;
    bytes[i] = (unsigned char)(seed >> 16);
  }
  for (size_t length = 0; length <= sizeof bytes; length++) {
    char expected[100];
    reference_base64(bytes, length, expected);
    pn_buf buf;
    pn_buf_init(&buf, 1024);
    assert_int_equal(pn_base64_encode(bytes, length, &buf), 0);
    assert_string_equal(buf.data ? buf.data : "", expected);
    pn_buf_free(&buf);
  }
}

static void base64_of_large_input_spans_blocks(void **state) {
  size_t length = 10000;
  unsigned char *bytes = pn_malloc(length);
  for (size_t i = 0; i < length; i++)
    bytes[i] = (unsigned char)(i * 7);
  pn_buf encoded, decoded;
  pn_buf_init(&encoded, 1 << 20);
  pn_buf_init(&decoded, 1 << 20);
  assert_int_equal(pn_base64_encode(bytes, length, &encoded), 0);
  assert_int_equal(encoded.length, (length + 2) / 3 * 4);
  assert_int_equal(pn_base64_decode(encoded.data, encoded.length, &decoded), 0);
  assert_int_equal(decoded.length, length);
  assert_memory_equal(decoded.data, bytes, length);
  pn_free(bytes);
  pn_buf_free(&encoded);
  pn_buf_free(&decoded);
}

static void percent_decoding(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  assert_int_equal(pn_percent_decode("a%20b+c%2Fd%zz%4", 16, 1, &buf), 0);
  assert_string_equal(buf.data, "a b c/d%zz%4");
  pn_buf_reset(&buf);
  assert_int_equal(pn_percent_decode("a+b", 3, 0, &buf), 0);
  assert_string_equal(buf.data, "a+b");
  pn_buf_free(&buf);
}

static void data_uri_decoding(void **state) {
  pn_buf buf;
  pn_buf_init(&buf, 1024);
  char *media_type = NULL;
  const char *error = NULL;
  assert_int_equal(pn_data_uri_decode("data:text/plain;charset=utf-8;base64,aGk=", 41, &media_type,
                                      &buf, &error),
                   0);
  assert_string_equal(media_type, "text/plain");
  assert_string_equal(buf.data, "hi");
  pn_free(media_type);
  pn_buf_reset(&buf);
  /* The length bounds the URI: the bytes after it are not read. */
  assert_int_equal(pn_data_uri_decode(",a%20b,tail", 0, &media_type, &buf, &error), PN_EPARSE);
  assert_int_equal(pn_data_uri_decode("data:,a%20bXX", 11, &media_type, &buf, &error), 0);
  assert_string_equal(media_type, "");
  assert_string_equal(buf.data, "a b");
  pn_free(media_type);
  pn_buf_reset(&buf);
  assert_int_equal(pn_data_uri_decode("data:image/png;base64", 21, &media_type, &buf, &error),
                   PN_EPARSE);
  assert_string_equal(error, "the data URI has no ',' before its payload");
  assert_null(media_type);
  assert_int_equal(pn_data_uri_decode("data:;base64,a*b", 16, &media_type, &buf, &error),
                   PN_EPARSE);
  assert_string_equal(error, "the data URI's base64 payload is not valid base64");
  pn_buf_free(&buf);
}

static void mime_types_both_ways(void **state) {
  assert_string_equal(pn_mime_for_path("/tmp/out.PNG"), "image/png");
  assert_string_equal(pn_mime_for_path("speech.wav"), "audio/wav");
  assert_string_equal(pn_mime_for_path("result.txt"), "text/plain");
  assert_string_equal(pn_mime_for_path("weights"), "application/octet-stream");
  assert_string_equal(pn_mime_for_path("dir.v2/file"), "application/octet-stream");
  assert_string_equal(pn_mime_extension("image/jpeg"), ".jpg");
  assert_string_equal(pn_mime_extension("text/plain; charset=utf-8"), ".txt");
  assert_string_equal(pn_mime_extension("application/x-unknown"), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(base64_matches_known_vectors),
      cmocka_unit_test(base64_decode_tolerates_missing_padding_and_rejects_junk),
      cmocka_unit_test(base64_of_large_input_spans_blocks),
      cmocka_unit_test(base64_matches_the_reference_at_every_length),
      cmocka_unit_test(percent_decoding),
      cmocka_unit_test(data_uri_decoding),
      cmocka_unit_test(mime_types_both_ways),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
