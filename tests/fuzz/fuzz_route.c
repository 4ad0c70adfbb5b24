/* libFuzzer target for what the hub reads from a request line: the path against route
 * patterns of every shape the route table uses (hub/route.c), and the query string
 * (libevent's evhttp_parse_query_str, then pn_percent_decode as cursors and filters
 * are read). Input: the request target, "PATH[?QUERY]".
 *
 * Invariants: a match yields exactly one non-empty parameter per `{}` without NUL or
 * '/'; percent-encoding those parameters back into the pattern matches again with the
 * same parameters; a failed match leaves every parameter NULL. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "hub/route.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const patterns[] = {
    "/v1/account",          "/v1/collections/{}",           "/v1/models/{}/{}",
    "/v1/models/{}/{}/versions/{}", "/v1/models/{}/{}/versions/{}/trainings",
    "/v1/predictions/{}/cancel",    "/v1/files/{}/download", "/internal/uploads/{}/{}",
    "/v1/{}/{}/{}/{}",      "/{}",
};

static size_t holes(const char *pattern) {
  size_t count = 0;
  for (const char *at = strstr(pattern, "{}"); at; at = strstr(at + 2, "{}"))
    count++;
  return count;
}

/* The pattern with each `{}` replaced by its parameter, every byte escaped. */
static char *fill(const char *pattern, char *const params[PN_HUB_ROUTE_PARAMS]) {
  pn_buf path;
  pn_buf_init(&path, 1 << 20);
  size_t next = 0;
  for (const char *at = pattern; *at; at++) {
    if (at[0] == '{' && at[1] == '}') {
      for (const unsigned char *byte = (const unsigned char *)params[next++]; *byte; byte++)
        pn_buf_appendf(&path, "%%%02X", *byte);
      at++;
    } else {
      pn_buf_append(&path, at, 1);
    }
  }
  return pn_buf_take(&path);
}

static void check_pattern(const char *pattern, const char *path) {
  char *params[PN_HUB_ROUTE_PARAMS];
  size_t expected = holes(pattern);
  if (!pn_hub_route_match(pattern, path, params)) {
    for (size_t i = 0; i < PN_HUB_ROUTE_PARAMS; i++)
      if (params[i])
        abort();
    return;
  }
  for (size_t i = 0; i < PN_HUB_ROUTE_PARAMS; i++) {
    if ((i < expected) != (params[i] != NULL))
      abort();
    if (params[i] && (!*params[i] || strchr(params[i], '/')))
      abort();
  }
  char *again = fill(pattern, params);
  char *round[PN_HUB_ROUTE_PARAMS];
  if (!again || !pn_hub_route_match(pattern, again, round))
    abort();
  for (size_t i = 0; i < expected; i++) {
    if (strcmp(params[i], round[i]) != 0)
      abort();
    pn_free(round[i]);
  }
  pn_free(again);
  for (size_t i = 0; i < expected; i++)
    pn_free(params[i]);
}

static void check_query(const char *query) {
  struct evkeyvalq pairs;
  TAILQ_INIT(&pairs);
  if (evhttp_parse_query_str(query, &pairs) == 0) {
    for (struct evkeyval *pair = pairs.tqh_first; pair; pair = pair->next.tqe_next)
      if (!pair->key || !pair->value)
        abort();
  }
  evhttp_clear_headers(&pairs);
  size_t length = strlen(query);
  pn_buf decoded;
  pn_buf_init(&decoded, 1 << 20);
  if (pn_percent_decode(query, length, 1, &decoded) == 0 && decoded.length > length)
    abort();
  pn_buf_free(&decoded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  char *target = pn_strndup((const char *)data, size); /* a request line holds no NUL */
  if (!target)
    return 0;
  char *query = strchr(target, '?');
  if (query)
    *query++ = '\0';
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    check_pattern(patterns[i], target);
  if (query)
    check_query(query);
  pn_free(target);
  return 0;
}
