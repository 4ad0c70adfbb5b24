/* Markdown to HTML for the pages (a model's README), by cmark in its safe mode.
 *
 * A README comes from whoever pushed the model, so the HTML must carry nothing that
 * runs: cmark's safe mode (the default since 0.29; pinion also passes CMARK_OPT_SAFE
 * and never CMARK_OPT_UNSAFE) drops raw HTML (a comment "raw HTML omitted" stands in)
 * and empties the href/src of javascript:, vbscript:, file: and data: URLs (except
 * data: images in png, gif, jpeg or webp). Only hub pages need it, so pinion opens
 * libcmark with dlopen on first use, as core/curl_api.c does for libcurl: building
 * needs no cmark headers (image builds compile pinion without them) and pinion runs
 * without cmark until a README is shown.
 *
 * Images: the pages load nothing from other origins (PN_WEB_CSP), so the README's images
 * are rewritten before rendering. One whose URL is relative and names a file inside the
 * model's folder ("images/a.png", "./a.png", "/a.png" from the folder's top; no "..")
 * loads from `image_base` + that path (the hub's route for the version's bundle); data:
 * images stay for the safe mode to judge; a remote one becomes a link to it whose text
 * is its alt text (or its URL), and only that text inside a link already (a badge);
 * any other (relative with no `image_base`, or climbing out of the folder) its alt
 * text. */
#ifndef PN_WEB_MARKDOWN_H
#define PN_WEB_MARKDOWN_H

#include <stddef.h>

/* The most Markdown pn_markdown_to_html renders (docs/limits.md). */
#define PN_MARKDOWN_MAX ((size_t)256 << 10)

/* Renders length bytes of Markdown (invalid UTF-8 becomes U+FFFD) as an HTML fragment
 * into *html (NUL-terminated; the caller frees it with pn_free). Returns 0, PN_ETOOBIG
 * over PN_MARKDOWN_MAX, PN_EUNSUPPORTED when libcmark cannot be loaded (*error, static
 * text, then says why and what to install), or PN_ENOMEM. `image_base` (NULL for none)
 * ends with '/'. */
int pn_markdown_to_html(const char *text, size_t length, const char *image_base, char **html,
                        const char **error);

#endif
