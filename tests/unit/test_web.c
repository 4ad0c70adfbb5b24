/* Unit tests for web/web.c (the embedded pages' lookup and the Accept rule) and
 * web/markdown.c (READMEs by cmark). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "web/markdown.h"
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

/* Issue #14 item 5: a README renders as Markdown, and what it carries that could run
 * (raw HTML, javascript: and data: links) is neutralised. */
static void markdown_renders_and_neutralises_what_could_run(void **state) {
  static const char readme[] =
      "# Title\n\n## Usage\n\n- one\n- two\n\n```\nrun()\n```\n\n"
      "See [docs](https://example.com/docs).\n\n"
      "<script>window.pwned = 1</script>\n\n"
      "[click](javascript:alert(1)) <img src=x onerror=alert(1)> <javascript:alert(2)> "
      "[d](data:text/html;base64,PHNjcmlwdD4=) [v](VBScript:x)\n\xff\n";
  char *html = NULL;
  const char *why = NULL;
  assert_int_equal(pn_markdown_to_html(readme, strlen(readme), NULL, &html, &why), 0);
  assert_string_equal(html, "<h1>Title</h1>\n"
                            "<h2>Usage</h2>\n"
                            "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
                            "<pre><code>run()\n</code></pre>\n"
                            "<p>See <a href=\"https://example.com/docs\">docs</a>.</p>\n"
                            "<!-- raw HTML omitted -->\n"
                            "<p><a href=\"\">click</a> <!-- raw HTML omitted --> "
                            "<a href=\"\">javascript:alert(2)</a> <a href=\"\">d</a> "
                            "<a href=\"\">v</a>\n\xef\xbf\xbd</p>\n");
  pn_free(html);
}

/* Issue #14: the pages load images from their own origin only, so a README's relative
 * images load from the version's folder through the hub (image_base), remote ones
 * become links, and none climbs out of the folder. */
static void markdown_images_load_from_the_folder_or_become_links(void **state) {
  static const char readme[] =
      "![diagram](images/diagram.png) ![a](./a.png?raw=true#top) ![top](/top.png)\n"
      "![remote](https://example.com/r.png) ![](https://example.com/e.png) "
      "![host](//example.com/h.png)\n"
      "[![badge](https://ci.example/b.svg)](https://ci.example)\n"
      "![up](../secret.png) ![dots](a/%2E%2e/b.png) ![dot](a/./b.png) ![deep](a//b.png)\n"
      "![js](javascript:alert(1)) ![d](data:image/png;base64,iVBO)\n";
  char *html = NULL;
  assert_int_equal(
      pn_markdown_to_html(readme, strlen(readme), "/acme/m/versions/v1/images/", &html, NULL), 0);
  assert_string_equal(
      html, "<p><img src=\"/acme/m/versions/v1/images/images/diagram.png\" alt=\"diagram\" /> "
            "<img src=\"/acme/m/versions/v1/images/a.png\" alt=\"a\" /> "
            "<img src=\"/acme/m/versions/v1/images/top.png\" alt=\"top\" />\n"
            "<a href=\"https://example.com/r.png\">remote</a> "
            "<a href=\"https://example.com/e.png\">https://example.com/e.png</a> "
            "<a href=\"//example.com/h.png\">host</a>\n"
            "<a href=\"https://ci.example\">badge</a>\n"
            "up dots dot deep\n"
            "<a href=\"\">js</a> <img src=\"data:image/png;base64,iVBO\" alt=\"d\" /></p>\n");
  pn_free(html);
  /* Without a folder (an image version), relative images are their alt text. */
  static const char relative[] = "![diagram](images/diagram.png)";
  assert_int_equal(pn_markdown_to_html(relative, strlen(relative), NULL, &html, NULL), 0);
  assert_string_equal(html, "<p>diagram</p>\n");
  pn_free(html);
}

static void markdown_over_its_limit_is_refused(void **state) {
  size_t length = PN_MARKDOWN_MAX + 1;
  char *text = pn_malloc(length);
  memset(text, 'x', length);
  char *html = (char *)1;
  assert_int_equal(pn_markdown_to_html(text, length, NULL, &html, NULL), PN_ETOOBIG);
  assert_null(html);
  assert_int_equal(pn_markdown_to_html(text, length - 1, NULL, &html, NULL), 0);
  assert_int_equal(strlen(html), strlen("<p></p>\n") + length - 1);
  pn_free(html);
  pn_free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_page_file_is_embedded_with_its_type),
      cmocka_unit_test(unknown_paths_are_not_found),
      cmocka_unit_test(browsers_get_pages_and_api_clients_json),
      cmocka_unit_test(markdown_renders_and_neutralises_what_could_run),
      cmocka_unit_test(markdown_images_load_from_the_folder_or_become_links),
      cmocka_unit_test(markdown_over_its_limit_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
