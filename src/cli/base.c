/* `pinion base build`: an offline Debian base image with a given Python, made from
 * Debian's packages by mmdebstrap and imported into the engine, for machines (and
 * tests) that cannot reach an image registry. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "image/image.h"

#include <stdio.h>
#include <string.h>

#define MAX_PACKAGES 256

static const char base_help[] =
    "Usage: pinion base build --python VERSION -t TAG [FLAGS]\n"
    "\n"
    "Makes a Debian base image holding Python VERSION (3.9, 3.11 or 3.13: the Python of\n"
    "a Debian release) and pip, from Debian's packages with mmdebstrap, and imports it\n"
    "into the engine as TAG; then its builder (TAG with -builder after the name: the base\n"
    "plus the tools that compile pinion's runtime). This needs a Debian mirror.\n"
    "\n"
    "`pinion build --base-image TAG` then needs no network when the base has the model's\n"
    "system_packages and Python packages: give them with --package (Debian names, e.g.\n"
    "ffmpeg, python3-sklearn for scikit-learn); pip finds Debian's python3-* installed.\n"
    "\n"
    "Flags:\n"
    "      --python VERSION     The Python version (required)\n"
    "  -t, --tag TAG            The image name (required)\n"
    "      --package NAME       A Debian package to include; repeatable\n"
    "      --mirror URL         The Debian mirror (default http://deb.debian.org/debian)\n"
    "      --engine NAME        docker, podman or buildah\n";

static int run_base(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "build") != 0) {
    fputs(base_help, argc >= 2 && pn_cli_is_help(argv[1]) ? stdout : stderr);
    return argc >= 2 && pn_cli_is_help(argv[1]) ? 0 : 2;
  }
  pn_cli_args args;
  pn_cli_args_init(&args, argc - 1, argv + 1);
  args.command = "base build"; /* for messages: "pinion base build: ..." */
  const char *python = NULL, *tag = NULL, *mirror = NULL, *engine_name = NULL, *value = NULL;
  const char *packages[MAX_PACKAGES];
  size_t package_count = 0;
  const pn_cli_text_flag text_flags[] = {
      {"--python", NULL, &python},
      {"--tag", "-t", &tag},
      {"--mirror", NULL, &mirror},
      {"--engine", NULL, &engine_name},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--package", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      if (package_count < MAX_PACKAGES)
        packages[package_count++] = value;
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  if (!python || !tag) {
    fprintf(stderr, "pinion base build: --python and -t are required, e.g. pinion base build "
                    "--python 3.11 -t pinion-base:3.11\n");
    return 2;
  }
  pn_image_engine engine;
  if (pn_cli_engine(engine_name, &engine) < 0)
    return 1;
  return pn_image_base_build(&engine, python, tag, packages, package_count, mirror) == 0 ? 0 : 1;
}

const struct pn_cli_command pn_cli_base_command = {
    "base", "Make an offline Debian base image (pinion base build)", base_help, run_base};
