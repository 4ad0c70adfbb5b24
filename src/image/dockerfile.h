/* The Dockerfile of a model's image (what `pinion build --dockerfile` prints): a stage
 * that builds pinion's runtime on the model's own base image, then the model's stage
 * with its packages, run steps, environment, weights and code, in an order that keeps
 * a code change to the last layer. See docs/internals/image.md. */
#ifndef PN_IMAGE_DOCKERFILE_H
#define PN_IMAGE_DOCKERFILE_H

#include "config/config.h"
#include "image/cuda.h"

#include <stddef.h>

/* The name of the extra build context that carries pinion's source. */
#define PN_IMAGE_SOURCE_CONTEXT "pinion-source"

/* The lines a build prints before installing, with apt-get, what its base image lacks
 * (the words that follow name the packages): pinion's build tools in stage 1, the
 * model's system_packages in stage 2. build.c reads them to say what needs a mirror. */
#define PN_IMAGE_MISSING_TOOLS_MARKER "pinion: build tools not in the base image:"
#define PN_IMAGE_MISSING_PACKAGES_MARKER "pinion: system_packages not in the base image:"

/* The Debian packages that compile pinion's runtime in stage 1 (space-separated); a
 * builder image made by `pinion base build` has them all. */
extern const char pn_image_runtime_build_packages[];

typedef struct pn_image_dockerfile_options {
  const char *base_image;   /* --base-image, or NULL to choose from the config */
  /* Stage 1's FROM: the base's builder image (the base plus the build tools, made by
   * `pinion base build`), or NULL for the base itself. */
  const char *builder_image;
  const char *requirements; /* the text of build.python_requirements, or NULL */
  /* Files of the project (relative paths) that go in layers of their own, before the
   * code, and so out of the final `COPY . /src` (the caller's ignore file drops them). */
  char *const *weight_files;
  /* Where each goes in the image: NULL for /src/<file> (a large project file), an
   * absolute path for a weight declared in cog.yaml. NULL as a whole: all /src. */
  char *const *weight_targets;
  size_t weight_file_count;
} pn_image_dockerfile_options;

typedef struct pn_image_plan {
  char *dockerfile;   /* pn_malloc'd */
  char *base_image;   /* pn_malloc'd: the model stage's FROM */
  pn_image_cuda cuda; /* all NULL for CPU models */
} pn_image_plan;

/* Writes the Dockerfile for `config`. Returns 0 and fills *plan (free it with
 * pn_image_plan_free), PN_EINVAL with *error set (a pn_malloc'd message the caller
 * frees) when the GPU stack cannot be resolved, or PN_ENOMEM. */
int pn_image_dockerfile(const pn_config *config, const pn_image_dockerfile_options *options,
                        pn_image_plan *plan, char **error);
void pn_image_plan_free(pn_image_plan *plan);

/* The Dockerfile of a base's builder image: `base` plus the packages that compile
 * pinion's runtime (what stage 1 installs when they are missing). pn_malloc'd. */
char *pn_image_builder_dockerfile(const char *base);

/* The default image name of a project folder, as Cog derives it: "cog-" and the
 * folder's name, lower case, spaces as '-', other characters dropped, 30 characters at
 * most. pn_malloc'd. */
char *pn_image_default_tag(const char *dir);

/* The major.minor of a python_version ("3.11.4" -> "3.11"), pn_malloc'd. */
char *pn_image_python_release(const char *version);

/* The name `pinion base build` gives the builder image of base `tag`: "-builder" after
 * the repository ("pinion-base:3.11" -> "pinion-base-builder:3.11",
 * "localhost:5000/base" -> "localhost:5000/base-builder"). pn_malloc'd. */
char *pn_image_builder_tag(const char *tag);

#endif
