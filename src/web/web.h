/* The web pages' files (web/ in the tree), embedded in the binary by
 * scripts/embed-web so that `pinion serve` and `pinion hub` serve them with no files
 * beside the binary and no build step for the pages. Data only: no HTTP here. */
#ifndef PN_WEB_WEB_H
#define PN_WEB_WEB_H

#include <stddef.h>

typedef struct pn_web_file {
  const char *path;         /* relative to web/, e.g. "style.css" */
  const char *content_type; /* e.g. "text/css; charset=utf-8" */
  const unsigned char *bytes;
  size_t length;
} pn_web_file;

/* The generated table, ended by an entry whose path is NULL. */
extern const pn_web_file pn_web_files[];

/* Finds the file at `path` (relative to web/; a leading '/' is ignored). The bytes are
 * static and live as long as the program; nothing is to be freed. Returns 0, or
 * PN_ENOENT when there is no such file. */
int pn_web_asset(const char *path, const unsigned char **bytes, size_t *length,
                 const char **content_type);

/* The Content-Security-Policy the pages are served with: everything from the page's own
 * origin (plus data: and blob: URLs for previews and inline outputs), nothing from
 * anywhere else, so that the browser itself enforces "no network fetches". */
#define PN_WEB_CSP                                                                                 \
  "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; "                 \
  "connect-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "       \
  "frame-ancestors 'none'"

/* Whether a request with this Accept header wants a page rather than JSON: it names
 * text/html, and before application/json if it names both (q-values are not weighed;
 * browsers list text/html first, API clients send JSON types or a wildcard). NULL: no. */
int pn_web_prefers_html(const char *accept);

#endif
