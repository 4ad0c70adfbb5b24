/* What the lines of a failed image build say went wrong, for the hints `pinion build`
 * prints after the engine's own messages: an image that could not be pulled, packages
 * the base image lacks and apt-get could not fetch, a Python package pip could not
 * fetch. The lines are the engine's (podman, buildah, docker's plain progress) and the
 * build steps' own output; see docs/internals/image.md. */
#ifndef PN_IMAGE_BUILD_TROUBLE_H
#define PN_IMAGE_BUILD_TROUBLE_H

typedef struct pn_image_build_trouble {
  int pull_failed;        /* an image could not be pulled (no registry) */
  int apt_failed;         /* apt-get could not reach its mirror */
  char *missing_tools;    /* pinion's build tools the base lacks ("a b c"), or NULL */
  char *missing_packages; /* system_packages the base lacks ("a b"), or NULL */
  char *pip_requirement;  /* the first requirement pip found no version of, or NULL */
  int pip_unreachable;    /* pip could not connect to its package index */
  /* What the current step said it installs, until apt-get fails (then it becomes
   * missing_*) or the next step starts. */
  char *installing_tools;
  char *installing_packages;
} pn_image_build_trouble;

/* Notes what one line of the build says. The strings it keeps are pn_malloc'd; free
 * them with pn_image_build_trouble_free. */
void pn_image_note_build_line(pn_image_build_trouble *trouble, const char *line);
void pn_image_build_trouble_free(pn_image_build_trouble *trouble);

/* Whether an engine's build line says an image could not be pulled (the build then
 * says that `pinion base build` makes a base without a registry). */
int pn_image_pull_failure_line(const char *line);

/* What to do next about a failed build, as "hint: ..." paragraphs (empty when the
 * lines showed nothing pinion can explain). `base_image` is the model stage's base,
 * `given_base` whether the user chose it (--base-image), `python` the model's Python
 * (major.minor). pn_malloc'd; NULL only when out of memory. */
char *pn_image_build_hints(const pn_image_build_trouble *trouble, const char *base_image,
                           int given_base, const char *python);

#endif
