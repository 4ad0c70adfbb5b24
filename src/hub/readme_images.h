/* The images a model's README shows from its own folder.
 *
 * The pages load images from the hub's origin only (PN_WEB_CSP), so a README's relative
 * image links are rewritten (web/markdown.h) to
 * `/{owner}/{name}/versions/{version id}/images/{path}`, which serves the file at that
 * path inside the version's bundle: a GET with the session cookie alone is enough, as
 * for a page, since an <img> sends no X-CSRF-Token (SameSite=Strict keeps other sites'
 * pages from sending the cookie at all). Only image types, only regular files inside
 * the bundle (no "..", no symbolic links, opened one segment at a time), at most
 * PN_HUB_README_IMAGE_MAX bytes; the reply may not be sniffed and runs sandboxed if a
 * browser opens it as a page (an SVG). See docs/internals/web.md. */
#ifndef PN_HUB_README_IMAGES_H
#define PN_HUB_README_IMAGES_H

#include "hub/hub.h"

/* The largest image the route serves (docs/limits.md). */
#define PN_HUB_README_IMAGE_MAX ((size_t)10 << 20)

/* The image_base for pn_markdown_to_html: the route's prefix for a version of
 * owner/name, ending with '/', pn_malloc'd (the caller frees it); NULL when out of
 * memory. */
char *pn_hub_readme_image_base(const char *owner, const char *name, const char *version_id);
/* Whether `path` (a request's, not decoded) is the route's. */
int pn_hub_readme_image_path(const char *path);
/* Answers a GET or HEAD of the route for request->account (NULL: 401): the image, or a
 * problem saying why not. */
void pn_hub_readme_image_serve(pn_hub_request *request);

#endif
