/* Unit tests for image/build_trouble.c: what a failed build's lines say (podman's and
 * docker's shapes), and the hints `pinion build` prints for them: an image that could
 * not be pulled, build tools or system_packages the base lacks with no Debian mirror,
 * a Python package with no package index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "image/build_trouble.h"

#include <string.h>

static void feed(pn_image_build_trouble *trouble, const char *const *lines) {
  for (size_t i = 0; lines[i]; i++)
    pn_image_note_build_line(trouble, lines[i]);
}

/* podman: the packages the model stage named, then apt-get's failure. */
static void test_missing_system_packages_without_mirror(void **state) {
  static const char *const lines[] = {
      "[1/2] STEP 2/4: RUN missing=; for package in build-essential; do ...; echo "
      "\"pinion: build tools not in the base image:$missing\"",
      "--> Using cache 1a2b3c",
      "[2/2] STEP 2/12: RUN missing=; for package in ffmpeg libgl1 python3; do ...",
      "pinion: system_packages not in the base image: ffmpeg libgl1",
      "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary "
      "failure resolving 'deb.debian.org'",
      "E: Unable to locate package ffmpeg",
      NULL};
  pn_image_build_trouble trouble = {0};
  feed(&trouble, lines);
  assert_true(trouble.apt_failed);
  assert_null(trouble.missing_tools);
  assert_string_equal(trouble.missing_packages, "ffmpeg libgl1");
  char *hints = pn_image_build_hints(&trouble, "localhost/pinion-base:3.11", 1, "3.11");
  assert_string_equal(
      hints, "hint: apt-get could not reach a Debian mirror to install the model's "
             "system_packages that the base image localhost/pinion-base:3.11 lacks: ffmpeg "
             "libgl1. Give the build network access to a Debian mirror, or make a base that has "
             "them (with the --package flags the base had, if any) and build on it:\n"
             "  pinion base build --python 3.11 -t pinion-base:3.11 --package ffmpeg --package "
             "libgl1\n"
             "  pinion build --base-image pinion-base:3.11\n");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

/* docker's plain progress: "#N TIME text"; the build tools were missing (a base with
 * no builder) and apt-get failed in that step. */
static void test_missing_build_tools_docker_lines(void **state) {
  static const char *const lines[] = {
      "#6 [pinion 2/4] RUN missing=; for package in build-essential pkg-config; do",
      "#6 0.208 pinion: build tools not in the base image: build-essential pkg-config",
      "#6 0.917 W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease",
      "#6 ERROR: process \"/bin/sh -c ...\" did not complete successfully: exit code: 100", NULL};
  pn_image_build_trouble trouble = {0};
  feed(&trouble, lines);
  assert_true(trouble.apt_failed);
  assert_string_equal(trouble.missing_tools, "build-essential pkg-config");
  assert_null(trouble.missing_packages);
  char *hints = pn_image_build_hints(&trouble, "debian:12", 1, "3.11");
  assert_string_equal(
      hints, "hint: apt-get could not reach a Debian mirror to install pinion's build tools, "
             "which the base image debian:12 lacks (build-essential pkg-config) and which no "
             "builder image of it has. A base made by `pinion base build` comes with a builder "
             "image that has them, so that builds on it need no network:\n"
             "  pinion base build --python 3.11 -t pinion-base:3.11\n"
             "  pinion build --base-image pinion-base:3.11\n");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

/* A marker from a step that succeeded does not explain apt-get failing in a later
 * build.run step. */
static void test_apt_in_a_later_step(void **state) {
  static const char *const lines[] = {
      "[2/2] STEP 2/12: RUN missing=; ...",
      "pinion: system_packages not in the base image: curl",
      "[2/2] STEP 3/12: RUN apt-get update && apt-get install -y jq",
      "Err:1 http://deb.debian.org/debian bookworm InRelease",
      "  Temporary failure resolving 'deb.debian.org'",
      NULL};
  pn_image_build_trouble trouble = {0};
  feed(&trouble, lines);
  assert_true(trouble.apt_failed);
  assert_null(trouble.missing_packages);
  char *hints = pn_image_build_hints(&trouble, "python:3.11-slim", 0, "3.11");
  assert_string_equal(hints, "hint: apt-get could not reach a Debian mirror (a build.run or "
                             "pre_install step ran it): give the build network access to "
                             "deb.debian.org or to a mirror of it.\n");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

static void test_pip_without_index(void **state) {
  static const char *const lines[] = {
      "[2/2] STEP 3/12: RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install frobnicate==1.0",
      "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) "
      "after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection."
      "HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] "
      "Temporary failure in name resolution')': /simple/frobnicate/",
      "ERROR: Could not find a version that satisfies the requirement frobnicate==1.0 (from "
      "versions: none)",
      "ERROR: No matching distribution found for frobnicate==1.0", NULL};
  pn_image_build_trouble trouble = {0};
  feed(&trouble, lines);
  assert_false(trouble.apt_failed);
  assert_string_equal(trouble.pip_requirement, "frobnicate==1.0");
  char *hints = pn_image_build_hints(&trouble, "localhost/pinion-base:3.11", 1, "3.11");
  assert_string_equal(
      hints, "hint: pip could not reach a package index for frobnicate==1.0 (the model's "
             "python_packages or python_requirements). A build without network uses only the "
             "Python packages its base image has: make the base with Debian's package of it "
             "(--package python3-NAME, e.g. python3-sklearn for scikit-learn; `apt-cache "
             "search` finds it), or give the build network access to PyPI.\n");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

/* pip saying a version does not exist, with the index reachable, is the model's own
 * mistake: no hint about the network. */
static void test_pip_reachable_gives_no_hint(void **state) {
  pn_image_build_trouble trouble = {0};
  pn_image_note_build_line(&trouble, "ERROR: Could not find a version that satisfies the "
                                     "requirement numpy==0.0.1 (from versions: 1.26.4)");
  char *hints = pn_image_build_hints(&trouble, "python:3.11-slim", 0, "3.11");
  assert_string_equal(hints, "");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

static void test_pull_failure(void **state) {
  pn_image_build_trouble trouble = {0};
  pn_image_note_build_line(&trouble, "Error: creating build container: initializing source "
                                     "docker://python:3.11-slim: pinging container registry");
  assert_true(trouble.pull_failed);
  char *hints = pn_image_build_hints(&trouble, "python:3.11-slim", 0, "3.11");
  assert_string_equal(hints, "hint: the base image python:3.11-slim could not be pulled. "
                             "Without a registry, make a Debian base from Debian's packages "
                             "and build on it:\n"
                             "  pinion base build --python 3.11 -t pinion-base:3.11\n"
                             "  pinion build --base-image pinion-base:3.11\n"
                             "(`pinion base build` needs a Debian mirror; builds on its base "
                             "then need no network; docs/guide.md)\n");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

/* Odd lines: a bare marker, a docker prefix with nothing after it, '#' alone. */
static void test_odd_lines(void **state) {
  static const char *const lines[] = {"pinion: system_packages not in the base image:",
                                      "#",
                                      "#12",
                                      "#12 ",
                                      "#12 0.5",
                                      "#12 0.5 ",
                                      "",
                                      NULL};
  pn_image_build_trouble trouble = {0};
  feed(&trouble, lines);
  pn_image_note_build_line(&trouble, "W: Failed to fetch x");
  assert_true(trouble.apt_failed);
  assert_null(trouble.missing_packages);
  char *hints = pn_image_build_hints(&trouble, "b", 1, "3.11");
  assert_non_null(strstr(hints, "(a build.run or pre_install step ran it)"));
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
}

/* Thousands of missing packages would make a hint longer than 64 KiB: it is replaced
 * by a line that says so, never printed cut in the middle; the other hints stay. */
static void test_a_hint_too_long_is_left_out_whole(void **state) {
  pn_buf line;
  pn_buf_init(&line, 1 << 20);
  pn_buf_append_str(&line, "pinion: system_packages not in the base image:");
  for (int i = 0; i < 5000; i++)
    pn_buf_appendf(&line, " package%05d", i);
  assert_false(pn_buf_error(&line));
  const char *const lines[] = {
      "[2/2] STEP 2/12: RUN missing=; ...",
      line.data,
      "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease",
      "ERROR: Could not find a version that satisfies the requirement frob==1",
      "Network is unreachable",
      NULL};
  pn_image_build_trouble trouble = {0};
  feed(&trouble, lines);
  assert_non_null(trouble.missing_packages);
  assert_int_equal(strlen(trouble.missing_packages), 5000 * 13 - 1);
  char *hints = pn_image_build_hints(&trouble, "localhost/pinion-base:3.11", 1, "3.11");
  assert_string_equal(
      hints, "hint: (one hint is left out: it would be longer than 64 KiB; the build's lines "
             "above name what is missing)\n"
             "hint: pip could not reach a package index for frob==1 (the model's python_packages "
             "or python_requirements). A build without network uses only the Python packages "
             "its base image has: make the base with Debian's package of it (--package "
             "python3-NAME, e.g. python3-sklearn for scikit-learn; `apt-cache search` finds "
             "it), or give the build network access to PyPI.\n");
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
  pn_buf_free(&line);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing_system_packages_without_mirror),
      cmocka_unit_test(test_missing_build_tools_docker_lines),
      cmocka_unit_test(test_apt_in_a_later_step),
      cmocka_unit_test(test_pip_without_index),
      cmocka_unit_test(test_pip_reachable_gives_no_hint),
      cmocka_unit_test(test_pull_failure),
      cmocka_unit_test(test_odd_lines),
      cmocka_unit_test(test_a_hint_too_long_is_left_out_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
