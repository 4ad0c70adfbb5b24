/* Unit tests for core/http_range.c (and pn_crypto_equal, which compares secrets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/crypto.h"
#include "core/http_range.h"

#include <string.h>

/* Parses a NUL-terminated header against `total`; fills first/last on PART. */
static enum pn_http_range_kind parse(const char *header, uint64_t total, uint64_t *first,
                                     uint64_t *last) {
  pn_http_range range = {99, 99};
  enum pn_http_range_kind kind =
      pn_http_range_parse(header, header ? strlen(header) : 0, total, &range);
  *first = range.first;
  *last = range.last;
  return kind;
}

static void single_ranges_are_served(void **state) {
  static const struct {
    const char *header;
    uint64_t total, first, last;
  } cases[] = {
      {"bytes=0-99", 1000, 0, 99},
      {"bytes=500-", 1000, 500, 999},
      {"bytes=-100", 1000, 900, 999},
      {"bytes=-5000", 1000, 0, 999},      /* a suffix longer than the file: all of it */
      {"bytes=900-5000", 1000, 900, 999}, /* cut at the end */
      {"bytes=999-999", 1000, 999, 999},
      {"BYTES=0-0", 1, 0, 0},                        /* the unit is case-insensitive */
      {" bytes= 1-2 ", 10, 1, 2},                    /* optional whitespace */
      {"bytes=0-99999999999999999999999", 10, 0, 9}, /* a huge end saturates */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t first, last;
    assert_int_equal(parse(cases[i].header, cases[i].total, &first, &last), PN_HTTP_RANGE_PART);
    assert_int_equal(first, cases[i].first);
    assert_int_equal(last, cases[i].last);
  }
}

static void ranges_past_the_end_are_unsatisfiable(void **state) {
  static const struct {
    const char *header;
    uint64_t total;
  } cases[] = {
      {"bytes=1000-", 1000},
      {"bytes=1000-2000", 1000},
      {"bytes=99999999999999999999999-", 1000}, /* saturates: past any file */
      {"bytes=-0", 1000},
      {"bytes=0-", 0},
      {"bytes=-10", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t first, last;
    assert_int_equal(parse(cases[i].header, cases[i].total, &first, &last),
                     PN_HTTP_RANGE_UNSATISFIABLE);
    assert_int_equal(first, 99); /* untouched */
  }
}

static void anything_else_means_the_whole_file(void **state) {
  static const char *headers[] = {
      NULL,         "",           "bytes=",        "bytes=-",    "bytes=a-b",  "bytes=5-1",
      "items=0-1",  "bytes 0-1",  "bytes=0-1,3-4", "bytes=0-1,", "bytes=0-1x", "bytes=--1",
      "bytes=1--2", "bytes=+1-2", "bytes=0x1-2",   "bytes=1",
  };
  for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
    uint64_t first, last;
    assert_int_equal(parse(headers[i], 1000, &first, &last), PN_HTTP_RANGE_WHOLE);
  }
}

static void the_length_bounds_the_header(void **state) {
  /* Not NUL-terminated: only `length` bytes count. */
  pn_http_range range;
  assert_int_equal(pn_http_range_parse("bytes=0-99,junk", 10, 1000, &range), PN_HTTP_RANGE_PART);
  assert_int_equal(range.first, 0);
  assert_int_equal(range.last, 99);
  assert_int_equal(pn_http_range_parse("bytes=0-99", 5, 1000, &range), PN_HTTP_RANGE_WHOLE);
}

static void secrets_compare_by_content(void **state) {
  assert_int_equal(pn_crypto_equal("abcdef", "abcdef", 6), 1);
  assert_int_equal(pn_crypto_equal("abcdef", "abcdeg", 6), 0);
  assert_int_equal(pn_crypto_equal("Xbcdef", "abcdef", 6), 0);
  assert_int_equal(pn_crypto_equal("a", "b", 0), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(single_ranges_are_served),
      cmocka_unit_test(ranges_past_the_end_are_unsatisfiable),
      cmocka_unit_test(anything_else_means_the_whole_file),
      cmocka_unit_test(the_length_bounds_the_header),
      cmocka_unit_test(secrets_compare_by_content),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
