/* libFuzzer target for the hub's list cursors (hub/ids.c), which arrive in the `cursor`
 * query parameter of every list endpoint. Input: the cursor text.
 *
 * Invariants: a cursor that decodes encodes back to one that decodes to the same two
 * parts; any (created_at without '|', id) pair survives encode then decode. */
#include "core/alloc.h"
#include "hub/ids.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_round_trip(const char *created_at, const char *id) {
  char *cursor = pn_hub_cursor_encode(created_at, id);
  char *created_again = NULL, *id_again = NULL;
  if (!cursor || pn_hub_cursor_decode(cursor, &created_again, &id_again) != 0 ||
      strcmp(created_at, created_again) != 0 || strcmp(id, id_again) != 0)
    abort();
  pn_free(cursor);
  pn_free(created_again);
  pn_free(id_again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = pn_strndup((const char *)data, size); /* a query value holds no NUL */
  if (!text)
    return 0;
  char *created_at = NULL, *id = NULL;
  if (pn_hub_cursor_decode(text, &created_at, &id) == 0) {
    if (!created_at || !id || strchr(created_at, '|'))
      abort();
    if (strlen(created_at) + strlen(id) < 1024)
      check_round_trip(created_at, id);
  } else if (created_at || id) {
    abort();
  }
  pn_free(created_at);
  pn_free(id);
  if (size < 1024) {
    char *bar = strchr(text, '|');
    if (bar) {
      *bar = '\0';
      check_round_trip(text, bar + 1);
    }
  }
  pn_free(text);
  return 0;
}
