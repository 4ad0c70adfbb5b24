/* libFuzzer target for reading an engine's push lines (image/push_progress.c): what
 * podman or docker print while they push, which includes what a registry answered.
 * Input: lines separated by newlines.
 *
 * Invariants: a line about a layer gives a 12-digit lowercase hex id, any other line
 * none; the view counts each layer once, no more layers than lines, and no more
 * existing layers than layers. */
#include "core/alloc.h"
#include "image/push_progress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = pn_strndup((const char *)data, size); /* C strings: up to the first NUL */
  if (!text)
    return 0;
  pn_image_push_view view;
  pn_image_push_view_init(&view, 1, 3, 0);
  unsigned lines = 0;
  for (char *line = text; line; lines++) {
    char *newline = strchr(line, '\n');
    if (newline)
      *newline = '\0';
    char id[PN_PUSH_LAYER_ID + 1];
    enum pn_image_push_event event = pn_image_push_line(line, id);
    size_t length = strlen(id);
    if (event == PN_PUSH_OTHER ? length != 0
                               : length != PN_PUSH_LAYER_ID ||
                                     strspn(id, "0123456789abcdef") != PN_PUSH_LAYER_ID)
      abort();
    pn_image_push_view_line(line, &view);
    line = newline ? newline + 1 : NULL;
  }
  if (view.layers_seen > lines || view.layers_existing > view.layers_seen)
    abort();
  pn_image_push_view_end(&view, 0);
  pn_free(text);
  return 0;
}
