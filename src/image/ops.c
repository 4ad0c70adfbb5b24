/* The smaller image operations: reading labels, making sure an image is present,
 * pushing, the common start of `run`, and the offline Debian base. Each is one or two
 * engine commands; see engine.h for how they run. */
#include "image/image.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "image/dockerfile.h"
#include "image/push_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_tls(const pn_image_engine *engine, pn_image_argv *argv, const char *reference) {
  /* docker reaches registries on 127.0.0.0/8 over plain HTTP by itself; podman and
   * buildah are told to, so a local registry works the same under each engine. */
  if (engine->kind != PN_ENGINE_DOCKER && pn_image_is_loopback_registry(reference))
    pn_image_argv_add(argv, "--tls-verify=false");
}

int pn_image_labels(const pn_image_engine *engine, const char *reference, json_t **labels) {
  *labels = NULL;
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, engine->name);
  if (engine->kind == PN_ENGINE_BUILDAH) {
    pn_image_argv_add(&argv, "inspect");
    pn_image_argv_add(&argv, "--type=image");
    pn_image_argv_add(&argv, "--format={{json .OCIv1.Config.Labels}}");
  } else {
    pn_image_argv_add(&argv, "image");
    pn_image_argv_add(&argv, "inspect");
    pn_image_argv_add(&argv, "--format={{json .Config.Labels}}");
  }
  pn_image_argv_add(&argv, reference);
  char *output = NULL;
  int rc = pn_image_run(&argv, &output, PN_RUN_QUIET, 0);
  pn_image_argv_free(&argv);
  if (rc != 0) {
    pn_free(output);
    return rc < 0 ? rc : PN_ENOENT;
  }
  json_t *parsed = json_loads(output, 0, NULL);
  pn_free(output);
  if (!parsed)
    return PN_EPARSE;
  if (!json_is_object(parsed)) { /* an image without labels says null */
    json_decref(parsed);
    parsed = json_object();
  }
  *labels = parsed;
  return parsed ? 0 : PN_ENOMEM;
}

int pn_image_ensure(const pn_image_engine *engine, const char *reference) {
  json_t *labels = NULL;
  if (pn_image_labels(engine, reference, &labels) == 0) {
    json_decref(labels);
    return 0;
  }
  fprintf(stderr, "Pulling %s with %s\n", reference, engine->name);
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, engine->name);
  pn_image_argv_add(&argv, "pull");
  add_tls(engine, &argv, reference);
  pn_image_argv_add(&argv, reference);
  /* Progress goes to stderr; the image ID the engine prints on stdout is not the
   * prediction's output, so it is dropped. */
  char *image_id = NULL;
  int rc = pn_image_run(&argv, &image_id, 0, 0);
  pn_free(image_id);
  pn_image_argv_free(&argv);
  if (rc != 0) {
    fprintf(stderr, "error: the image %s is not here and %s could not pull it; build it with "
                    "`pinion build -t %s` or check the name and your login\n",
            reference, engine->name, reference);
    return PN_ENOENT;
  }
  return 0;
}

/* The image's layer count and size (uncompressed) for the push's progress; left 0 when
 * the engine cannot say (buildah inspects differently; the progress then shows no
 * totals). */
static void image_totals(const pn_image_engine *engine, const char *reference, unsigned *layers,
                         uint64_t *bytes) {
  *layers = 0;
  *bytes = 0;
  if (engine->kind == PN_ENGINE_BUILDAH)
    return;
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, engine->name);
  pn_image_argv_add(&argv, "image");
  pn_image_argv_add(&argv, "inspect");
  pn_image_argv_add(&argv, "--format={{len .RootFS.Layers}} {{.Size}}");
  pn_image_argv_add(&argv, reference);
  char *output = NULL;
  unsigned long long size = 0;
  if (pn_image_run(&argv, &output, PN_RUN_QUIET, 0) == 0 && output &&
      sscanf(output, "%u %llu", layers, &size) == 2)
    *bytes = size;
  else
    *layers = 0;
  pn_free(output);
  pn_image_argv_free(&argv);
}

int pn_image_push(const pn_image_engine *engine, const char *reference, int quiet) {
  unsigned layers = 0;
  uint64_t bytes = 0;
  image_totals(engine, reference, &layers, &bytes);
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, engine->name);
  pn_image_argv_add(&argv, "push");
  add_tls(engine, &argv, reference);
  pn_image_argv_add(&argv, reference);
  if (!quiet)
    fprintf(stderr, "Pushing %s with %s\n", reference, engine->name);
  pn_image_push_view view;
  pn_image_push_view_init(&view, quiet, layers, bytes);
  int rc = pn_image_run_lines(&argv, pn_image_push_view_line, &view);
  pn_image_push_view_end(&view, rc != 0);
  pn_image_argv_free(&argv);
  if (rc < 0) {
    fprintf(stderr, "error: could not start %s push: %s\n", engine->name, pn_strerror(rc));
    return PN_ECHILD;
  }
  if (rc != 0) {
    fprintf(stderr, "error: %s push %s failed (exit %d); log in with `%s login REGISTRY` when "
                    "the registry wants credentials\n",
            engine->name, reference, rc, engine->name);
    return PN_ECHILD;
  }
  if (view.layers_existing)
    fprintf(stderr, "Pushed %s (%u layer%s, %u already in the registry)\n", reference,
            view.layers_seen, view.layers_seen == 1 ? "" : "s", view.layers_existing);
  else
    fprintf(stderr, "Pushed %s (%u layer%s)\n", reference, view.layers_seen,
            view.layers_seen == 1 ? "" : "s");
  return 0;
}

void pn_image_run_prefix(const pn_image_engine *engine, pn_image_argv *argv, int gpu,
                         int interactive) {
  pn_image_argv_add(argv, engine->name);
  pn_image_argv_add(argv, "run");
  pn_image_argv_add(argv, "--rm");
  if (interactive) {
    pn_image_argv_add(argv, "-i");
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
      pn_image_argv_add(argv, "-t");
  }
  if (gpu)
    pn_image_argv_add(argv, engine->kind == PN_ENGINE_DOCKER ? "--gpus=all"
                                                             : "--device=nvidia.com/gpu=all");
}

/* Debian's release for each Python it ships. */
static const struct {
  const char *python;
  const char *suite;
} debian_pythons[] = {{"3.9", "bullseye"}, {"3.11", "bookworm"}, {"3.13", "trixie"}};

int pn_image_base_build(const pn_image_engine *engine, const char *python, const char *tag,
                        const char *const *packages, size_t package_count, const char *mirror) {
  const char *suite = NULL;
  for (size_t i = 0; i < sizeof debian_pythons / sizeof debian_pythons[0]; i++)
    if (strcmp(python, debian_pythons[i].python) == 0)
      suite = debian_pythons[i].suite;
  if (!suite) {
    fprintf(stderr, "error: Debian has no release with Python %s; use 3.9 (bullseye), 3.11 "
                    "(bookworm) or 3.13 (trixie), or build on another base with --base-image\n",
            python);
    return PN_EINVAL;
  }
  if (engine->kind == PN_ENGINE_BUILDAH) {
    fprintf(stderr, "error: buildah cannot import a root file system as an image; use "
                    "--engine podman or --engine docker for pinion base build\n");
    return PN_EUNSUPPORTED;
  }
  char *tmp = NULL;
  int rc = pn_fs_mkdtemp("pinion-base", &tmp);
  if (rc < 0) {
    fprintf(stderr, "error: could not make a temporary folder: %s\n", pn_strerror(rc));
    return rc;
  }
  char *tarball = pn_fs_join(tmp, "rootfs.tar");
  char *builder = pn_image_builder_tag(tag);
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, "mmdebstrap");
  pn_image_argv_add(&argv, "--variant=minbase");
  pn_image_argv_add(&argv, "--include=python3,python3-pip,python-is-python3,ca-certificates");
  for (size_t i = 0; i < package_count; i++)
    pn_image_argv_addf(&argv, "--include=%s", packages[i]);
  /* Images install into this Python with pip, as the python images allow. */
  pn_image_argv_add(&argv, "--customize-hook=rm -f \"$1\"/usr/lib/python3*/EXTERNALLY-MANAGED");
  pn_image_argv_add(&argv, suite);
  pn_image_argv_add(&argv, tarball ? tarball : "");
  pn_image_argv_add(&argv, mirror ? mirror : "http://deb.debian.org/debian");
  fprintf(stderr, "Making a Debian %s base with Python %s (mmdebstrap)\n", suite, python);
  rc = pn_image_run(&argv, NULL, 0, 0);
  pn_image_argv_free(&argv);
  if (rc != 0) {
    fprintf(stderr, "error: mmdebstrap failed (%s); install it (apt-get install mmdebstrap) "
                    "and check that the Debian mirror is reachable\n",
            rc < 0 ? "it is not installed" : "see its messages above");
  } else {
    pn_image_argv_init(&argv);
    pn_image_argv_add(&argv, engine->name);
    pn_image_argv_add(&argv, "import");
    pn_image_argv_add(&argv, "--change=CMD [\"python3\"]");
    pn_image_argv_add(&argv, "--change=LABEL run.pinion.base=debian");
    pn_image_argv_addf(&argv, "--change=LABEL " PN_IMAGE_BUILDER_LABEL "=%s", builder ? builder : "");
    pn_image_argv_add(&argv, tarball);
    pn_image_argv_add(&argv, tag);
    fprintf(stderr, "Importing it as %s with %s\n", tag, engine->name);
    char *image_id = NULL; /* printed on stdout; not this command's output */
    rc = pn_image_run(&argv, &image_id, PN_RUN_QUIET, 0);
    pn_free(image_id);
    pn_image_argv_free(&argv);
    if (rc != 0) {
      fprintf(stderr, "error: %s import failed (exit %d)\n", engine->name, rc);
    } else if ((rc = pn_image_build_builder(engine, tag, builder)) != 0) {
      fprintf(stderr, "error: %s was made, but not its builder %s: builds on it will install "
                      "pinion's build tools with apt-get, which needs a Debian mirror; run "
                      "pinion base build again when the engine reaches the mirror\n",
              tag, builder);
    }
  }
  pn_fs_remove_tree(tmp);
  pn_free(tmp);
  pn_free(tarball);
  pn_free(builder);
  return rc == 0 ? 0 : PN_ECHILD;
}
