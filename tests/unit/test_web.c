/* Unit tests for web/web.c: the embedded pages' lookup and the Accept rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "web/web.h"

#include <string.h>

static void every_page_file_is_embedded_with_its_type(void **state) {
  static const struct {
    const char *path;
    const char *type;
  } expected[] = {{"serve.html", "text/html; charset=utf-8"},
                  {"style.css", "text/css; charset=utf-8"},
                  {"schema.js", "text/javascript; charset=utf-8"},
                  {"render.js", "text/javascript; charset=utf-8"},
                  {"favicon.svg", "image/svg+xml"}};
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
    const unsigned char *bytes = NULL;
    size_t length = 0;
    const char *type = NULL;
    assert_int_equal(pn_web_asset(expected[i].path, &bytes, &length, &type), 0);
    assert_string_equal(type, expected[i].type);
    assert_true(length > 0);
    assert_int_equal(bytes[length], 0); /* NUL after the bytes: text can be used as a string */
  }
  const unsigned char *bytes = NULL;
  size_t length = 0;
  assert_int_equal(pn_web_asset("/serve.html", &bytes, &length, NULL), 0);
  assert_non_null(strstr((const char *)bytes, "<!doctype html>"));
}

static void unknown_paths_are_not_found(void **state) {
  assert_int_equal(pn_web_asset("nope.js", NULL, NULL, NULL), PN_ENOENT);
  assert_int_equal(pn_web_asset("../Makefile", NULL, NULL, NULL), PN_ENOENT);
  assert_int_equal(pn_web_asset("", NULL, NULL, NULL), PN_ENOENT);
  assert_int_equal(pn_web_asset(NULL, NULL, NULL, NULL), PN_ENOENT);
}

static void browsers_get_pages_and_api_clients_json(void **state) {
  assert_true(pn_web_prefers_html(
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"));
  assert_true(pn_web_prefers_html("Text/HTML"));
  assert_true(pn_web_prefers_html("text/html, application/json"));
  assert_false(pn_web_prefers_html(NULL));
  assert_false(pn_web_prefers_html("*/*"));
  assert_false(pn_web_prefers_html("application/json"));
  assert_false(pn_web_prefers_html("application/json, text/html"));
  assert_false(pn_web_prefers_html("text/event-stream"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_page_file_is_embedded_with_its_type),
      cmocka_unit_test(unknown_paths_are_not_found),
      cmocka_unit_test(browsers_get_pages_and_api_clients_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
