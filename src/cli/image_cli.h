/* What the image commands (build, push, exec, base, inspect, and the --image modes of
 * predict and serve) share: loading cog.yaml, choosing the engine, the default tag. */
#ifndef PN_CLI_IMAGE_CLI_H
#define PN_CLI_IMAGE_CLI_H

#include "config/config.h"
#include "image/engine.h"

/* Finds and loads cog.yaml (or `file_name`) from the current folder up, printing its
 * diagnostics. NULL after printing why; the caller frees the config. With `quiet`,
 * a missing file prints nothing. */
pn_config *pn_cli_load_config(const char *file_name, int quiet);
/* Chooses the engine (`name` or automatic); prints the reason and returns -1 when
 * none is usable. */
int pn_cli_engine(const char *name, pn_image_engine *engine);
/* The image name of a project: cog.yaml's `image`, else `model`, else cog-<folder>.
 * pn_malloc'd. */
char *pn_cli_image_tag(const pn_config *config);
/* Builds the project's image as `pinion build` does; returns an exit code. */
int pn_cli_build_image(const pn_image_engine *engine, const pn_config *config, const char *tag,
                       const char *base_image, int plain);
/* `pinion predict --image` and `pinion serve --image`: take over when argv holds
 * --image; each returns an exit code (or does not return: the engine replaces pinion). */
int pn_cli_predict_image(int argc, char **argv);
int pn_cli_serve_image(int argc, char **argv);
/* Whether argv holds --image (or --image=...). */
int pn_cli_has_image_flag(int argc, char **argv);

#endif
