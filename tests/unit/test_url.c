/* Unit tests for core/url.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/url.h"

static void expect_url(const char *base, const char *name, const char *expected) {
  char *url = NULL;
  assert_int_equal(pn_url_append_segment(base, name, &url), 0);
  assert_string_equal(url, expected);
  pn_free(url);
}

static void a_name_joins_the_path_once_with_one_slash(void **state) {
  expect_url("http://127.0.0.1:9000/uploads/", "out.txt", "http://127.0.0.1:9000/uploads/out.txt");
  expect_url("http://127.0.0.1:9000/uploads", "out.txt", "http://127.0.0.1:9000/uploads/out.txt");
  expect_url("https://bucket.example", "out.txt", "https://bucket.example/out.txt");
}

static void unsafe_bytes_in_the_name_are_percent_encoded(void **state) {
  expect_url("http://h/dir/", "a b#c?d.txt", "http://h/dir/a%20b%23c%3Fd.txt");
  expect_url("http://h/dir/", "../x/%2e", "http://h/dir/..%2Fx%2F%252e");
  expect_url("http://h/dir/", "caf\xc3\xa9.png", "http://h/dir/caf%C3%A9.png");
}

static void the_query_stays_at_the_end(void **state) {
  expect_url("https://bucket/dir/?sig=abc&x=1", "r.txt", "https://bucket/dir/r.txt?sig=abc&x=1");
}

static void a_base_that_is_not_an_http_url_is_refused(void **state) {
  char *url = NULL;
  assert_int_equal(pn_url_append_segment("not a url", "x", &url), PN_EINVAL);
  assert_null(url);
  assert_int_equal(pn_url_append_segment("file:///etc/", "x", &url), PN_EINVAL);
  assert_int_equal(pn_url_append_segment("/relative/only", "x", &url), PN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_name_joins_the_path_once_with_one_slash),
      cmocka_unit_test(unsafe_bytes_in_the_name_are_percent_encoded),
      cmocka_unit_test(the_query_stays_at_the_end),
      cmocka_unit_test(a_base_that_is_not_an_http_url_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
