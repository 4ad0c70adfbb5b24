/* libFuzzer target for reading a failed build's lines (image/build_trouble.c): the
 * engine's output and whatever the build steps print (a model's build.run steps print
 * anything). Input: lines separated by newlines.
 *
 * Invariants: the packages kept are a part of one line (no line break); the hints are
 * made, and are empty or "hint: " paragraphs, each ending in a newline; they are empty
 * only when nothing was found to explain (a hint too long is replaced, not dropped). */
#include "core/alloc.h"
#include "image/build_trouble.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_word_list(const char *words) {
  if (words && strchr(words, '\n'))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = pn_strndup((const char *)data, size); /* C strings: up to the first NUL */
  if (!text)
    return 0;
  pn_image_build_trouble trouble = {0};
  for (char *line = text; line;) {
    char *newline = strchr(line, '\n');
    if (newline)
      *newline = '\0';
    pn_image_note_build_line(&trouble, line);
    line = newline ? newline + 1 : NULL;
  }
  check_word_list(trouble.missing_tools);
  check_word_list(trouble.missing_packages);
  check_word_list(trouble.pip_requirement);
  char *hints = pn_image_build_hints(&trouble, "base", 1, "3.11");
  if (!hints || (*hints && (strncmp(hints, "hint: ", 6) != 0 || hints[strlen(hints) - 1] != '\n')))
    abort();
  int found = trouble.pull_failed || trouble.apt_failed ||
              (trouble.pip_requirement && trouble.pip_unreachable);
  if (found != (*hints != '\0'))
    abort();
  pn_free(hints);
  pn_image_build_trouble_free(&trouble);
  pn_free(text);
  return 0;
}
