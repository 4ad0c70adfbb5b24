/* `pinion push [IMAGE]`: publish the model's image to an OCI registry with the
 * engine's own push (and the credentials of its login). In a model folder it builds
 * first, as `cog push` does; elsewhere, or with --no-build, it pushes what is there. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "image/image.h"

#include <stdio.h>

static int run_push(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *engine_name = NULL, *image = NULL, *base_image = NULL, *value = NULL;
  int no_build = 0, plain = 0;
  while (args.index < argc) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--engine", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      engine_name = value;
    } else if ((matched = pn_cli_flag(&args, "--base-image", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      base_image = value;
    } else if (pn_cli_switch(&args, "--no-build", NULL)) {
      no_build = 1;
    } else if (pn_cli_switch(&args, "--progress=plain", NULL)) {
      plain = 1;
    } else if (argv[args.index][0] != '-' && !image) {
      image = argv[args.index++];
    } else {
      return pn_cli_unknown(&args);
    }
  }
  pn_config *config = no_build && image ? NULL : pn_cli_load_config(NULL, image != NULL);
  if (!image && !config)
    return 1;
  pn_image_engine engine;
  if (pn_cli_engine(engine_name, &engine) < 0) {
    pn_config_free(config);
    return 1;
  }
  char *tag = image ? pn_strdup(image) : pn_cli_image_tag(config);
  int exit_code = tag ? 0 : 1;
  if (exit_code == 0 && config && !no_build)
    exit_code = pn_cli_build_image(&engine, config, tag, base_image, plain);
  if (exit_code == 0)
    exit_code = pn_image_push(&engine, tag) == 0 ? 0 : 1;
  pn_free(tag);
  pn_config_free(config);
  return exit_code;
}

const struct pn_cli_command pn_cli_push_command = {
    "push", "Build and push the model's image to a registry",
    "Usage: pinion push [IMAGE] [FLAGS]\n"
    "\n"
    "Pushes IMAGE (default: cog.yaml's image) to its registry with the engine's push,\n"
    "using the engine's login (`podman login`, `docker login`). In a model folder the\n"
    "image is built first, as `cog push` does. Registries on this machine (localhost,\n"
    "127.0.0.1) are reached over plain HTTP.\n"
    "\n"
    "Flags:\n"
    "      --no-build           Push the image as it is\n"
    "      --base-image REF     As for pinion build\n"
    "      --engine NAME        docker, podman or buildah\n",
    run_push};
