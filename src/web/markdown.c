/* Markdown by cmark, loaded on first use. See markdown.h. */
#include "web/markdown.h"

#include "core/alloc.h"
#include "core/error.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmark's options (cmark.h; their values are part of its ABI). */
#define CMARK_OPT_SAFE (1 << 3)
#define CMARK_OPT_VALIDATE_UTF8 (1 << 9)
/* The first release whose safe mode covers raw HTML and every unsafe URL scheme. */
#define CMARK_VERSION_NEEDED 0x001D00 /* 0.29.0 */

/* Debian's (bookworm's 0.30.2 first), then the development link any version has. */
static const char *const library_names[] = {
    "libcmark.so.0.30.2", "libcmark.so.0.31.1", "libcmark.so.0.31.0",
    "libcmark.so.0.30.3", "libcmark.so.0.30.1", "libcmark.so.0.30.0",
    "libcmark.so.0.29.0", "libcmark.so",        NULL};

static char *(*to_html)(const char *text, size_t length, int options);
static int loaded;
static const char *load_error;
static char version_error[160];

static const char *load(void) {
  if (loaded)
    return load_error;
  loaded = 1;
  void *library = NULL;
  for (size_t i = 0; !library && library_names[i]; i++)
    library = dlopen(library_names[i], RTLD_NOW | RTLD_LOCAL);
  if (!library)
    return load_error = "libcmark could not be loaded, so READMEs cannot be rendered: "
                        "install it (apt-get install libcmark0.30.2, or libcmark-dev)";
  int (*version)(void) = NULL;
  *(void **)&version = dlsym(library, "cmark_version");
  *(void **)&to_html = dlsym(library, "cmark_markdown_to_html");
  if (!version || !to_html)
    return load_error = "the libcmark found lacks cmark_version or cmark_markdown_to_html: "
                        "install Debian's libcmark0.30.2";
  int found = version();
  if (found < CMARK_VERSION_NEEDED) {
    snprintf(version_error, sizeof version_error,
             "libcmark %d.%d.%d is too old: pinion needs 0.29.0 or newer for its safe mode; "
             "upgrade libcmark",
             (found >> 16) & 0xff, (found >> 8) & 0xff, found & 0xff);
    return load_error = version_error;
  }
  return NULL;
}

int pn_markdown_to_html(const char *text, size_t length, char **html, const char **error) {
  *html = NULL;
  if (length > PN_MARKDOWN_MAX)
    return PN_ETOOBIG;
  const char *why = load();
  if (why) {
    if (error)
      *error = why;
    return PN_EUNSUPPORTED;
  }
  /* Never CMARK_OPT_UNSAFE. */
  char *rendered = to_html(text, length, CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8);
  if (!rendered)
    return PN_ENOMEM;
  /* cmark allocates with its default allocator, which is the C library's. */
  *html = pn_strdup(rendered);
  free(rendered);
  return *html ? 0 : PN_ENOMEM;
}
