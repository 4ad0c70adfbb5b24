/* What pinion does with images, through a container engine (engine.h): build a model
 * folder into a Cog image and label it, read its labels, push it, make sure it is
 * present (pulling it), and make the offline Debian base (`pinion base build`). */
#ifndef PN_IMAGE_IMAGE_H
#define PN_IMAGE_IMAGE_H

#include "config/config.h"
#include "image/engine.h"

#include <jansson.h>
#include <stddef.h>

/* Project files at least this large go in layers of their own (PINION_WEIGHTS_THRESHOLD
 * overrides it, in bytes). */
#define PN_IMAGE_WEIGHT_THRESHOLD (64L * 1024 * 1024)

typedef struct pn_image_build_options {
  const pn_config *config;
  const char *tag;
  const char *base_image; /* or NULL */
  int progress_plain;     /* stream every line the engine prints */
  int quiet;              /* print nothing but errors (no steps, no progress) */
  int no_cache;
  const char *const *secrets; /* "id=...,src=..." as for `docker build --secret` */
  size_t secret_count;
} pn_image_build_options;

/* The Dockerfile for a project, with its weight files found (what `pinion build
 * --dockerfile` prints); `builder_image` as pn_image_find_builder finds it, or NULL.
 * Returns 0 and a pn_malloc'd text in *dockerfile; PN_EINVAL with *error (pn_malloc'd)
 * on a config the generator refuses; PN_ENOMEM. */
int pn_image_project_dockerfile(const pn_config *config, const char *base_image,
                                const char *builder_image, char **dockerfile, char **error);

/* The builder image of `base` when it was made by `pinion base build` (its
 * PN_IMAGE_BUILDER_LABEL) and the engine has both, pn_malloc'd; NULL for any other
 * base, or one not here yet. Warns on stderr when the label names a missing image. */
char *pn_image_find_builder(const pn_image_engine *engine, const char *base);

/* The org.opencontainers.image.source label for a git remote: an http(s) URL without
 * its credentials, or an scp-like or ssh:// remote made https, either less a trailing
 * ".git"; NULL for anything else (a local folder, file://), which must never become a
 * label. pn_malloc'd. */
char *pn_image_source_url(const char *remote);

/* Builds and labels the image; prints progress to stderr. Returns 0 or a negative
 * PN_E* after printing what went wrong. */
int pn_image_build(const pn_image_engine *engine, const pn_image_build_options *options);

/* The image's labels as a new JSON object (the caller decrefs it). PN_ENOENT when the
 * engine has no such image. */
int pn_image_labels(const pn_image_engine *engine, const char *reference, json_t **labels);

/* Makes sure the engine has the image, pulling it when missing. 0 or PN_ENOENT after
 * printing why. */
int pn_image_ensure(const pn_image_engine *engine, const char *reference);

/* Pushes the image with the engine's own push (and its login's credentials), showing
 * its progress (image/push_progress.h; nothing but errors and the last line when
 * `quiet`). */
int pn_image_push(const pn_image_engine *engine, const char *reference, int quiet);

/* Starts `ENGINE run` arguments for the image: --rm, -i (and -t on a terminal), GPU
 * devices when `gpu`. The caller adds its own flags, then the image and command. */
void pn_image_run_prefix(const pn_image_engine *engine, pn_image_argv *argv, int gpu,
                         int interactive);

/* The label of a base made by `pinion base build` that names its builder image: the
 * base plus the packages that compile pinion's runtime, where `pinion build` compiles
 * it with no network. */
#define PN_IMAGE_BUILDER_LABEL "run.pinion.builder"

/* Builds `builder`: `base` plus pinion's build tools, installed with apt-get (so this
 * needs a Debian mirror). Prints progress; 0 or a negative PN_E* after saying why. */
int pn_image_build_builder(const pn_image_engine *engine, const char *base,
                           const char *builder);

/* `pinion base build`: a Debian root file system with `python` (major.minor) and
 * `packages` (Debian package names) made by mmdebstrap and imported as `tag`, labelled
 * with the name of its builder image (pn_image_builder_tag), which it then builds. */
int pn_image_base_build(const pn_image_engine *engine, const char *python, const char *tag,
                        const char *const *packages, size_t package_count, const char *mirror);

#endif
