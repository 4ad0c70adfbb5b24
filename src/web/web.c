/* Looks up the pages' embedded files by path. The table comes from
 * build/gen/web_assets.c, which scripts/embed-web writes from web/ at build time; it is
 * small (a dozen files), so a linear scan is all the index it needs. */
#include "web/web.h"

#include "core/error.h"

#include <string.h>
#include <strings.h>

int pn_web_asset(const char *path, const unsigned char **bytes, size_t *length,
                 const char **content_type) {
  if (!path)
    return PN_ENOENT;
  while (*path == '/')
    path++;
  for (const pn_web_file *file = pn_web_files; file->path; file++) {
    if (strcmp(file->path, path) != 0)
      continue;
    if (bytes)
      *bytes = file->bytes;
    if (length)
      *length = file->length;
    if (content_type)
      *content_type = file->content_type;
    return 0;
  }
  return PN_ENOENT;
}

/* strcasestr without _GNU_SOURCE's promise that every libc has it. */
static const char *find_ignoring_case(const char *text, const char *word) {
  size_t length = strlen(word);
  for (; *text; text++)
    if (strncasecmp(text, word, length) == 0)
      return text;
  return NULL;
}

int pn_web_prefers_html(const char *accept) {
  if (!accept)
    return 0;
  const char *html = find_ignoring_case(accept, "text/html");
  const char *json = find_ignoring_case(accept, "application/json");
  return html && (!json || html < json);
}
