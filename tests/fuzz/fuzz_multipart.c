/* libFuzzer target for hub/multipart.c (`POST /v1/files`). Input: the Content-Type
 * header value, a newline, then the body. The body is copied into a buffer of exactly
 * its size so that a read one byte past it is caught.
 *
 * Invariants: on success every part has a name and its data lies inside the body; on
 * failure there are no parts and the error is set. */
#include "core/alloc.h"
#include "hub/multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *newline = memchr(data, '\n', size);
  if (!newline)
    return 0;
  char *content_type = pn_strndup((const char *)data, (size_t)(newline - data));
  size_t length = size - (size_t)(newline + 1 - data);
  char *body = malloc(length ? length : 1);
  if (!content_type || !body)
    abort();
  memcpy(body, newline + 1, length);
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *error = NULL;
  int rc = pn_hub_multipart_parse(content_type, body, length, &parts, &count, &error);
  if (rc == 0) {
    for (size_t i = 0; i < count; i++) {
      const pn_hub_part *part = &parts[i];
      if (!part->name || part->data < body || part->data + part->length > body + length)
        abort();
      if (pn_hub_part_find(parts, count, part->name) > part)
        abort();
    }
  } else if (parts || count || !error) {
    abort();
  }
  pn_hub_parts_free(parts, count);
  free(body);
  pn_free(content_type);
  return 0;
}
