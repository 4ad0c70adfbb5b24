/* Reading a failed build's lines for what pinion can explain, and the hints that say
 * what to do next. The build steps pinion writes name what they install before
 * apt-get runs (dockerfile.h's markers), so a build without network can say exactly
 * which packages the base image lacks and how to make a base that has them. */
#include "image/build_trouble.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "image/dockerfile.h"

#include <string.h>

#define HINTS_LIMIT (64 * 1024) /* one hint; there are at most HINTS_COUNT */
#define HINTS_COUNT 5

int pn_image_pull_failure_line(const char *line) {
  /* Lines podman, buildah and docker print when they cannot pull an image (no network,
   * no registry, or a registry that does not have it). */
  static const char *const signs[] = {"initializing source docker://",
                                      "failed to resolve source metadata",
                                      "error pinging docker registry",
                                      "pinging container registry",
                                      "unable to pull",
                                      "Error response from daemon: Get \"https://",
                                      NULL};
  for (size_t i = 0; signs[i]; i++)
    if (strstr(line, signs[i]))
      return 1;
  return 0;
}

/* What a line a step printed says, without docker's "#7 0.512 " prefix (podman and
 * buildah print such lines as they are). */
static const char *step_output(const char *line) {
  if (line[0] != '#')
    return line;
  const char *rest = line + 1 + strspn(line + 1, "0123456789");
  if (rest == line + 1 || *rest != ' ')
    return line;
  rest++;
  size_t time_length = strspn(rest, "0123456789.");
  return time_length && rest[time_length] == ' ' ? rest + time_length + 1 : line;
}

/* A new step starts: podman's "STEP 3/9: ..." (or "[1/2] STEP ..."), docker's
 * "#7 [2/5] RUN ...". */
static int step_start(const char *line) {
  if (strncmp(line, "STEP ", 5) == 0 || (line[0] == '[' && strstr(line, "] STEP ")))
    return 1;
  if (line[0] != '#')
    return 0;
  const char *rest = line + 1 + strspn(line + 1, "0123456789");
  return rest != line + 1 && strncmp(rest, " [", 2) == 0;
}

/* The words after `marker` when `text` starts with it and names any (pn_malloc'd),
 * else NULL. */
static char *after_marker(const char *text, const char *marker) {
  size_t length = strlen(marker);
  if (strncmp(text, marker, length) != 0)
    return NULL;
  text += length;
  text += strspn(text, " ");
  return *text ? pn_strdup(text) : NULL;
}

static void keep(char **slot, char *value) {
  if (!value)
    return;
  pn_free(*slot);
  *slot = value;
}

void pn_image_note_build_line(pn_image_build_trouble *trouble, const char *line) {
  if (pn_image_pull_failure_line(line))
    trouble->pull_failed = 1;
  if (step_start(line)) {
    /* apt-get failing in a later step (a build.run step, say) is not about the
     * packages an earlier step named. */
    pn_free(trouble->installing_tools);
    pn_free(trouble->installing_packages);
    trouble->installing_tools = trouble->installing_packages = NULL;
    return;
  }
  const char *text = step_output(line);
  keep(&trouble->installing_tools, after_marker(text, PN_IMAGE_MISSING_TOOLS_MARKER));
  keep(&trouble->installing_packages, after_marker(text, PN_IMAGE_MISSING_PACKAGES_MARKER));
  if (!trouble->apt_failed &&
      (strstr(text, "Temporary failure resolving") || strstr(text, "Could not resolve '") ||
       strncmp(text, "W: Failed to fetch", 18) == 0)) {
    trouble->apt_failed = 1;
    trouble->missing_tools = trouble->installing_tools;
    trouble->missing_packages = trouble->installing_packages;
    trouble->installing_tools = trouble->installing_packages = NULL;
  }
  /* pip: "ERROR: Could not find a version that satisfies the requirement NAME (from
   * versions: none)" after "Failed to establish a new connection" warnings. */
  static const char no_version[] = "Could not find a version that satisfies the requirement ";
  const char *requirement = strstr(text, no_version);
  if (requirement && !trouble->pip_requirement) {
    requirement += sizeof no_version - 1;
    trouble->pip_requirement = pn_strndup(requirement, strcspn(requirement, " "));
  }
  if (strstr(text, "Failed to establish a new connection") ||
      strstr(text, "Network is unreachable") ||
      strstr(text, "Temporary failure in name resolution"))
    trouble->pip_unreachable = 1;
}

void pn_image_build_trouble_free(pn_image_build_trouble *trouble) {
  pn_free(trouble->missing_tools);
  pn_free(trouble->missing_packages);
  pn_free(trouble->installing_tools);
  pn_free(trouble->installing_packages);
  pn_free(trouble->pip_requirement);
  memset(trouble, 0, sizeof *trouble);
}

/* "pinion base build --python P -t pinion-base:P" and a --package flag per word. */
static void append_base_command(pn_buf *out, const char *python, const char *packages) {
  pn_buf_appendf(out, "  pinion base build --python %s -t pinion-base:%s", python, python);
  for (const char *word = packages; word && *word;) {
    size_t length = strcspn(word, " ");
    if (length)
      pn_buf_appendf(out, " --package %.*s", (int)length, word);
    word += length;
    word += strspn(word, " ");
  }
  pn_buf_appendf(out, "\n  pinion build --base-image pinion-base:%s\n", python);
}

/* One hint is written whole into `one`, then moved to `out`: a hint that would pass
 * HINTS_LIMIT (a list of thousands of packages) is replaced by a line that says so, so
 * that what is printed is never a hint cut in the middle. */
static void hint_begin(pn_buf *one) { pn_buf_init(one, HINTS_LIMIT); }

static void hint_end(pn_buf *out, pn_buf *one) {
  if (pn_buf_error(one))
    pn_buf_append_str(out, "hint: (one hint is left out: it would be longer than 64 KiB; the "
                           "build's lines above name what is missing)\n");
  else
    pn_buf_append(out, one->data, one->length);
  pn_buf_free(one);
}

char *pn_image_build_hints(const pn_image_build_trouble *trouble, const char *base_image,
                           int given_base, const char *python) {
  pn_buf out, one;
  pn_buf_init(&out, HINTS_COUNT * HINTS_LIMIT + 1024);
  if (trouble->pull_failed) {
    hint_begin(&one);
    pn_buf_appendf(&one,
                   "hint: the base image %s could not be pulled. Without a registry, make a "
                   "Debian base from Debian's packages and build on it:\n",
                   base_image);
    append_base_command(&one, python, NULL);
    pn_buf_append_str(&one, "(`pinion base build` needs a Debian mirror; builds on its base "
                            "then need no network; docs/guide.md)\n");
    hint_end(&out, &one);
  }
  if (trouble->apt_failed && trouble->missing_tools) {
    hint_begin(&one);
    pn_buf_appendf(&one,
                   "hint: apt-get could not reach a Debian mirror to install pinion's build "
                   "tools, which the base image %s lacks (%s)%s. A base made by `pinion base "
                   "build` comes with a builder image that has them, so that builds on it "
                   "need no network:\n",
                   base_image, trouble->missing_tools,
                   given_base ? " and which no builder image of it has" : "");
    append_base_command(&one, python, NULL);
    hint_end(&out, &one);
  }
  if (trouble->apt_failed && trouble->missing_packages) {
    hint_begin(&one);
    pn_buf_appendf(&one,
                   "hint: apt-get could not reach a Debian mirror to install the model's "
                   "system_packages that the base image %s lacks: %s. Give the build network "
                   "access to a Debian mirror, or make a base that has them (with the "
                   "--package flags the base had, if any) and build on it:\n",
                   base_image, trouble->missing_packages);
    append_base_command(&one, python, trouble->missing_packages);
    hint_end(&out, &one);
  }
  if (trouble->apt_failed && !trouble->missing_tools && !trouble->missing_packages)
    pn_buf_append_str(&out, "hint: apt-get could not reach a Debian mirror (a build.run or "
                            "pre_install step ran it): give the build network access to "
                            "deb.debian.org or to a mirror of it.\n");
  if (trouble->pip_requirement && trouble->pip_unreachable) {
    hint_begin(&one);
    pn_buf_appendf(&one,
                   "hint: pip could not reach a package index for %s (the model's "
                   "python_packages or python_requirements). A build without network uses "
                   "only the Python packages its base image has: make the base with "
                   "Debian's package of it (--package python3-NAME, e.g. python3-sklearn for "
                   "scikit-learn; `apt-cache search` finds it), or give the build network "
                   "access to PyPI.\n",
                   trouble->pip_requirement);
    hint_end(&out, &one);
  }
  return pn_buf_take(&out);
}
