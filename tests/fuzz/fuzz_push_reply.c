/* libFuzzer target for the CLI's reader of the hub's answer to `pinion push`
 * (cli/push.c pn_cli_push_reply): whatever listens at --hub may answer anything. Input:
 * two bytes picking the HTTP status, then the body.
 *
 * Invariants: exactly one of an id and a problem comes back; an id is printable ASCII
 * without spaces; a problem is one line without control bytes (it goes to a terminal),
 * of bounded length, naming the hub. */
#include "cli/push.h"
#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HUB "http://127.0.0.1:8080"

static void check_printable(const char *text, int spaces) {
  for (const unsigned char *at = (const unsigned char *)text; *at; at++)
    if (*at < 0x20 || *at == 0x7f || (!spaces && *at == ' '))
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  if (size < 2)
    return 0;
  static const long statuses[] = {200, 201, 400, 401, 404, 413, 422, 500, 502, 0};
  long status = data[0] < 10 ? statuses[data[0]] : (long)(data[0] << 8 | data[1]);
  size_t length = size - 2;
  char *body = malloc(length ? length : 1); /* exactly the body: no terminator to lean on */
  if (!body)
    abort();
  memcpy(body, data + 2, length);
  char *id = NULL, *problem = NULL;
  int rc = pn_cli_push_reply(HUB, status, length ? body : NULL, length, &id, &problem);
  if (rc == 0) {
    if (!id || problem || !*id || strlen(id) > 256)
      abort();
    check_printable(id, 0);
  } else if (id || !problem || !strstr(problem, HUB) ||
             strlen(problem) > PN_CLI_PUSH_SHOWN_MAX + 400) {
    abort();
  } else {
    check_printable(problem, 1);
  }
  pn_free(id);
  pn_free(problem);
  free(body);
  return 0;
}
