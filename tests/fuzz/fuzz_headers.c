/* libFuzzer target for request headers the hub reads itself: `Range` on file and output
 * downloads (core/http_range.c) and the session `Cookie` of the pages
 * (hub/sessions.c). Input: eight bytes of a representation's size (its low 40 bits, so
 * that small sizes come up), then the header's value.
 *
 * Invariants: a partial answer lies inside the representation (first <= last < total);
 * a session id taken from a cookie is non-empty, at most 128 bytes, without ';'. */
#include "core/alloc.h"
#include "core/http_range.h"
#include "hub/sessions.h"

#include <event2/http.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_range(const char *value, size_t length, uint64_t total) {
  char *header = malloc(length ? length : 1); /* exactly the value: no terminator */
  if (!header)
    abort();
  memcpy(header, value, length);
  pn_http_range range = {UINT64_MAX, UINT64_MAX};
  enum pn_http_range_kind kind = pn_http_range_parse(header, length, total, &range);
  if (kind == PN_HTTP_RANGE_PART && (range.first > range.last || range.last >= total))
    abort();
  if (kind != PN_HTTP_RANGE_PART && kind != PN_HTTP_RANGE_WHOLE &&
      kind != PN_HTTP_RANGE_UNSATISFIABLE)
    abort();
  if (pn_http_range_parse(NULL, 0, total, &range) != PN_HTTP_RANGE_WHOLE)
    abort();
  free(header);
}

static void check_cookie(const char *value) {
  struct evhttp_request *request = evhttp_request_new(NULL, NULL);
  if (!request)
    abort();
  if (evhttp_add_header(evhttp_request_get_input_headers(request), "Cookie", value) == 0) {
    char *session = pn_hub_session_cookie(request);
    if (session && (!*session || strlen(session) > 128 || strchr(session, ';')))
      abort();
    pn_free(session);
  }
  evhttp_request_free(request);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8)
    return 0;
  uint64_t total = 0;
  for (int i = 0; i < 8; i++)
    total = total << 8 | data[i];
  total &= ((uint64_t)1 << 40) - 1;
  check_range((const char *)data + 8, size - 8, total);
  char *value = pn_strndup((const char *)data + 8, size - 8); /* a header holds no NUL */
  if (value)
    check_cookie(value);
  pn_free(value);
  return 0;
}
