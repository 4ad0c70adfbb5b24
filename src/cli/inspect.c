/* `pinion inspect IMAGE`: the image's labels (run.cog.*, org.opencontainers.image.*)
 * as one JSON object, read through the engine. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "image/image.h"

#include <stdio.h>

static int run_inspect(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *engine_name = NULL, *image = NULL;
  const pn_cli_text_flag text_flags[] = {{"--engine", NULL, &engine_name}, {NULL, NULL, NULL}};
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    if (argv[args.index][0] != '-' && !image)
      image = argv[args.index++];
    else
      return pn_cli_unknown(&args);
  }
  if (more < 0)
    return 2;
  if (!image) {
    fprintf(stderr, "pinion inspect: name the image, e.g. pinion inspect cog-hello\n");
    return 2;
  }
  pn_image_engine engine;
  if (pn_cli_engine(engine_name, &engine) < 0)
    return 1;
  json_t *labels = NULL;
  int rc = pn_image_labels(&engine, image, &labels);
  if (rc < 0) {
    fprintf(stderr, "error: %s has no image %s (%s); build it with `pinion build -t %s` or pull "
                    "it\n",
            engine.name, image, pn_strerror(rc), image);
    return 1;
  }
  char *text = pn_json_dump(labels, PN_JSON_PRETTY);
  json_decref(labels);
  if (!text)
    return 1;
  printf("%s\n", text);
  pn_free(text);
  return 0;
}

const struct pn_cli_command pn_cli_inspect_command = {
    "inspect", "Print an image's Cog labels as JSON",
    "Usage: pinion inspect IMAGE [--engine NAME]\n"
    "\n"
    "Prints the labels of IMAGE as one JSON object: run.cog.version, run.cog.config,\n"
    "run.cog.openapi_schema, run.cog.pip_freeze and org.opencontainers.image.*.\n",
    run_inspect};
