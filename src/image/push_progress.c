/* The progress of a registry push, from the engine's lines. See push_progress.h. */
#include "image/push_progress.h"

#include "core/alloc.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

/* Copies the first PN_PUSH_LAYER_ID characters of `text` into `id` when they are all
 * lowercase hex digits. */
static int layer_id(const char *text, char id[PN_PUSH_LAYER_ID + 1]) {
  for (size_t i = 0; i < PN_PUSH_LAYER_ID; i++)
    if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
      return 0;
  memcpy(id, text, PN_PUSH_LAYER_ID);
  id[PN_PUSH_LAYER_ID] = '\0';
  return 1;
}

enum pn_image_push_event pn_image_push_line(const char *line, char id[PN_PUSH_LAYER_ID + 1]) {
  static const char blob[] = "Copying blob ";
  id[0] = '\0';
  /* podman: "Copying blob sha256:<64 hex>", or "Copying blob <12 hex> skipped: already
   * exists" / "... done" (the short forms come from newer containers/image). */
  if (strncmp(line, blob, sizeof blob - 1) == 0) {
    const char *digest = line + sizeof blob - 1;
    if (strncmp(digest, "sha256:", 7) == 0)
      digest += 7;
    if (!layer_id(digest, id))
      return PN_PUSH_OTHER;
    return strstr(digest, " skipped") ? PN_PUSH_EXISTS : PN_PUSH_SENDING;
  }
  /* docker: "<12 hex>: Pushed", "<12 hex>: Layer already exists", "<12 hex>: Mounted
   * from <repository>" (its "Preparing", "Waiting" and, on a terminal only, "Pushing"
   * lines come before). */
  if (layer_id(line, id) && strncmp(line + PN_PUSH_LAYER_ID, ": ", 2) == 0) {
    const char *what = line + PN_PUSH_LAYER_ID + 2;
    if (strcmp(what, "Pushed") == 0)
      return PN_PUSH_SENDING;
    if (strcmp(what, "Layer already exists") == 0 || strncmp(what, "Mounted from ", 13) == 0)
      return PN_PUSH_EXISTS;
  }
  id[0] = '\0';
  return PN_PUSH_OTHER;
}

void pn_image_push_view_init(pn_image_push_view *view, int quiet, unsigned layers_total,
                             uint64_t image_bytes) {
  memset(view, 0, sizeof *view);
  view->quiet = quiet;
  view->on_terminal = pn_progress_wanted(quiet);
  view->layers_total = layers_total;
  view->image_bytes = image_bytes;
  view->started_ns = pn_clock_monotonic_ns();
  pn_progress_init(&view->status, view->on_terminal);
}

/* "3/7" or "3" when the total is unknown (or the engine pushed more than it said). */
static void layer_count(const pn_image_push_view *view, char *out, size_t size) {
  if (view->layers_total && view->layers_seen <= view->layers_total)
    snprintf(out, size, "%u/%u", view->layers_seen, view->layers_total);
  else
    snprintf(out, size, "%u", view->layers_seen);
}

static void draw_status(pn_image_push_view *view, int force) {
  uint64_t seconds = (pn_clock_monotonic_ns() - view->started_ns) / 1000000000ull;
  char count[32], size[96] = "";
  layer_count(view, count, sizeof count);
  if (view->image_bytes)
    pn_progress_bytes_text(size, sizeof size, " · image", view->image_bytes, 0);
  pn_progress_set(&view->status, force, "  Pushing · layer %s · %llu:%02llu%s", count,
                  (unsigned long long)(seconds / 60), (unsigned long long)(seconds % 60), size);
}

/* Whether the layer was met before; remembers it otherwise (while there is room). */
static int seen_before(pn_image_push_view *view, const char *id) {
  size_t kept = view->layers_seen < PN_PUSH_LAYERS_KEPT ? view->layers_seen : PN_PUSH_LAYERS_KEPT;
  for (size_t i = 0; i < kept; i++)
    if (strcmp(view->seen[i], id) == 0)
      return 1;
  if (kept < PN_PUSH_LAYERS_KEPT)
    memcpy(view->seen[kept], id, PN_PUSH_LAYER_ID + 1);
  return 0;
}

void pn_image_push_view_line(const char *line, void *arg) {
  pn_image_push_view *view = arg;
  size_t slot = view->next++ % PN_PUSH_TAIL;
  pn_free(view->tail[slot]);
  view->tail[slot] = pn_strdup(line);
  char id[PN_PUSH_LAYER_ID + 1];
  enum pn_image_push_event event = pn_image_push_line(line, id);
  if (event == PN_PUSH_OTHER || seen_before(view, id)) {
    if (view->on_terminal)
      draw_status(view, 0); /* the clock moves on */
    return;
  }
  view->layers_seen++;
  view->layers_existing += event == PN_PUSH_EXISTS;
  if (view->on_terminal) {
    draw_status(view, 1);
  } else if (!view->quiet) {
    char count[32];
    layer_count(view, count, sizeof count);
    fprintf(stderr, "  layer %s %s: %s\n", count, id,
            event == PN_PUSH_EXISTS ? "already in the registry" : "pushing");
  }
}

void pn_image_push_view_end(pn_image_push_view *view, int failed) {
  pn_progress_clear(&view->status);
  size_t count = view->next < PN_PUSH_TAIL ? view->next : PN_PUSH_TAIL;
  for (size_t i = view->next - count; i < view->next; i++) {
    char *line = view->tail[i % PN_PUSH_TAIL];
    if (failed && line)
      fprintf(stderr, "  %s\n", line);
    pn_free(line);
    view->tail[i % PN_PUSH_TAIL] = NULL;
  }
}
