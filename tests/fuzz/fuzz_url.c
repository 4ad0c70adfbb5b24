/* libFuzzer target for composing URLs from parts (core/url.c): a base URL that comes
 * from outside (a webhook or upload URL a client gave) and a name (an output's file
 * name, chosen by the model). Input: the base, a newline, then the name. The whole
 * input is also read as a prediction input that may be a hub's signed file URL
 * (pn_url_internal_file_path, which a replica uses to point such URLs at itself).
 *
 * Invariants: a composed URL parses again, keeps the base's scheme, host and query, and
 * its last path segment decodes to the name; a recognised file URL is http:// with a
 * host, and its path lies inside the text and starts /internal/files/<id>/download. */
#include "core/alloc.h"
#include "core/url.h"

#include <event2/http.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check(const char *base, const char *name) {
  char *url = NULL;
  if (pn_url_append_segment(base, name, &url) != 0) {
    if (url)
      abort();
    return;
  }
  struct evhttp_uri *before = evhttp_uri_parse_with_flags(base, EVHTTP_URI_NONCONFORMANT);
  struct evhttp_uri *after = evhttp_uri_parse_with_flags(url, EVHTTP_URI_NONCONFORMANT);
  if (!before || !after || strcasecmp(evhttp_uri_get_scheme(after), evhttp_uri_get_scheme(before)) ||
      !same(evhttp_uri_get_host(after), evhttp_uri_get_host(before)) ||
      !same(evhttp_uri_get_query(after), evhttp_uri_get_query(before)))
    abort();
  const char *path = evhttp_uri_get_path(after);
  const char *last = path ? strrchr(path, '/') : NULL;
  if (!last)
    abort();
  char *decoded = evhttp_uridecode(last + 1, 0, NULL);
  if (!decoded || strcmp(decoded, name) != 0)
    abort();
  free(decoded);
  evhttp_uri_free(before);
  evhttp_uri_free(after);
  pn_free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_internal(const char *text) {
  const char *path = pn_url_internal_file_path(text);
  if (!path)
    return;
  if (strncmp(text, "http://", 7) != 0 || path <= text + 7 || path > text + strlen(text) ||
      strncmp(path, "/internal/files/", 16) != 0 || !strstr(path + 16, "/download"))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = pn_strndup((const char *)data, size); /* C strings: up to the first NUL */
  if (text)
    check_internal(text);
  char *newline = text ? strchr(text, '\n') : NULL;
  if (newline) {
    *newline = '\0';
    check(text, newline + 1);
  }
  pn_free(text);
  return 0;
}
