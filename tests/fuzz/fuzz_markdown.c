/* libFuzzer target for rendering a README (web/markdown.c): Markdown from whoever pushed
 * a model, parsed by cmark, its images rewritten, rendered in safe mode. Input: the
 * Markdown.
 *
 * Invariants: every <img> the HTML carries loads from the model's folder (the image
 * base, with no "." or ".." segment after it) or is a data: image or has no source, so
 * the page never asks another origin or a path outside the folder; no raw HTML gets
 * through. */
#include "core/alloc.h"
#include "web/markdown.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BASE "/owner/model/versions/v1/images/"

/* Whether the folder path after the base has a "." or ".." segment (cmark leaves dots
 * as they are in an attribute; '%' stays an escape). */
static int climbs(const char *path, size_t length) {
  for (size_t start = 0; start <= length;) {
    const char *slash = memchr(path + start, '/', length - start);
    size_t end = slash ? (size_t)(slash - path) : length;
    size_t size = end - start;
    if (size == 0 || (size <= 2 && strspn(path + start, ".") >= size) ||
        memchr(path + start, '\\', size))
      return 1;
    start = end + 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *html = NULL;
  if (pn_markdown_to_html((const char *)data, size, BASE, &html, NULL) != 0) {
    if (html)
      abort();
    return 0;
  }
  for (const char *at = html; (at = strstr(at, "<img src=\"")); at++) {
    const char *source = at + strlen("<img src=\"");
    const char *end = strchr(source, '"');
    if (!end)
      abort();
    size_t length = (size_t)(end - source);
    if (length == 0 || strncasecmp(source, "data:image/", 11) == 0)
      continue;
    if (strncmp(source, BASE, strlen(BASE)) != 0 ||
        climbs(source + strlen(BASE), length - strlen(BASE)))
      abort();
  }
  if (strstr(html, "<script") || strstr(html, "<iframe"))
    abort();
  pn_free(html);
  return 0;
}
