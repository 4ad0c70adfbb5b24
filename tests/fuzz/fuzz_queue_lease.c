/* libFuzzer target for the lease a director's report carries (queue/queue.c,
 * pn_queue_parse_lease), which the hub reads from the director's JSON before asking
 * Redis whether it still holds the message. Input: the lease text.
 *
 * Invariants: a lease that parses has three non-empty NUL-terminated parts, the first
 * two without spaces, none with a control byte, and joined with single spaces they give
 * back the input. */
#include "core/alloc.h"
#include "queue/queue.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int clean(const char *text, size_t size, int spaces) {
  size_t length = strnlen(text, size);
  if (length == 0 || length == size)
    return 0;
  for (size_t i = 0; i < length; i++)
    if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f || (!spaces && text[i] == ' '))
      return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = pn_strndup((const char *)data, size); /* a JSON string decoded: NUL ends it */
  if (!text)
    return 0;
  pn_queue_lease_parts parts;
  if (pn_queue_parse_lease(text, &parts) == 0) {
    if (!clean(parts.consumer, sizeof parts.consumer, 0) ||
        !clean(parts.entry, sizeof parts.entry, 0) || !clean(parts.key, sizeof parts.key, 1))
      abort();
    char *joined = pn_strfmt("%s %s %s", parts.consumer, parts.entry, parts.key);
    if (!joined || strcmp(joined, text) != 0)
      abort();
    pn_free(joined);
  }
  pn_free(text);
  return 0;
}
