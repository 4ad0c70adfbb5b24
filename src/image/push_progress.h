/* What `pinion push` shows while the engine pushes an image to a registry (issue #14
 * item 4). The engine's push is run with its output piped, where neither podman nor
 * docker draws progress bars, so pinion reads its lines: podman (containers/image)
 * prints "Copying blob sha256:..." per layer ("... skipped: already exists" when the
 * registry has it), docker "<id>: Pushed" or "<id>: Layer already exists". From them,
 * on a terminal, one status line redrawn in place (core/progress.h): the layers so far
 * of how many, the time, the image's size; otherwise one plain line per layer; with
 * quiet, nothing. The engine's own last lines are shown when the push fails. */
#ifndef PN_IMAGE_PUSH_PROGRESS_H
#define PN_IMAGE_PUSH_PROGRESS_H

#include "core/progress.h"

#include <stddef.h>
#include <stdint.h>

/* What one line of an engine's push says about a layer. */
enum pn_image_push_event {
  PN_PUSH_OTHER,   /* nothing about a layer */
  PN_PUSH_SENDING, /* the engine copies the layer (podman), or sent it (docker) */
  PN_PUSH_EXISTS,  /* the registry has the layer already */
};

/* The short id of a layer: the first 12 hex digits of its digest. */
#define PN_PUSH_LAYER_ID 12

/* Reads one line of `podman push` or `docker push`; for a layer's event, `id` gets the
 * layer's short id (NUL-terminated). */
enum pn_image_push_event pn_image_push_line(const char *line, char id[PN_PUSH_LAYER_ID + 1]);

#define PN_PUSH_LAYERS_KEPT 512 /* distinct layers remembered (an image has ~10-100) */
#define PN_PUSH_TAIL 20         /* engine lines kept to show on failure */

typedef struct pn_image_push_view {
  int quiet;
  int on_terminal;
  unsigned layers_total; /* from the image's inspection, or 0 when unknown */
  uint64_t image_bytes;  /* the image's size (uncompressed), or 0 when unknown */
  unsigned layers_seen;
  unsigned layers_existing;
  char seen[PN_PUSH_LAYERS_KEPT][PN_PUSH_LAYER_ID + 1];
  char *tail[PN_PUSH_TAIL];
  size_t next;
  uint64_t started_ns;
  pn_progress status;
} pn_image_push_view;

/* Starts a view: on a terminal unless `quiet` (pn_progress_wanted), plain lines
 * otherwise. `layers_total` and `image_bytes` may be 0 (unknown). */
void pn_image_push_view_init(pn_image_push_view *view, int quiet, unsigned layers_total,
                             uint64_t image_bytes);
/* The pn_image_run_lines callback: `arg` is the view. */
void pn_image_push_view_line(const char *line, void *arg);
/* Clears the status line; when `failed`, prints the engine's last lines. Frees what
 * the view holds. */
void pn_image_push_view_end(pn_image_push_view *view, int failed);

#endif
