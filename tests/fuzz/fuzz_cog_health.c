/* libFuzzer target for the reader of a model server's health check
 * (core/cog_client.c pn_cog_health_read): the hub's instances and the director ask a
 * model server, which may be any Cog-compatible program, for GET /health-check. Input:
 * one byte picking the HTTP status, then the body.
 *
 * Invariants: the answer is one of the three states; a failure, and only a failure,
 * comes with an error, which is one line (the last of the setup logs) of bounded
 * length; READY only from a 200 whose status says so. */
#include "core/alloc.h"
#include "core/cog_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  if (size < 1)
    return 0;
  static const long statuses[] = {200, 200, 200, 404, 500, 503, 0};
  long status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
  pn_buf body;
  pn_buf_init(&body, size + 1);
  if (pn_buf_append(&body, data + 1, size - 1) < 0)
    abort();
  pn_http_response response = {.ok = status != 0, .status = status, .body = &body};
  char *error = NULL;
  enum pn_cog_health state = pn_cog_health_read(&response, &error);
  if (state != PN_COG_STARTING && state != PN_COG_READY && state != PN_COG_FAILED)
    abort();
  if (state != PN_COG_FAILED && error)
    abort();
  if (state != PN_COG_STARTING && status != 200)
    abort();
  if (error && (strchr(error, '\n') || strlen(error) > size + 200))
    abort();
  pn_free(error);
  pn_buf_free(&body);
  return 0;
}
