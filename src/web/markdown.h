/* Markdown to HTML for the pages (a model's README), by cmark in its safe mode.
 *
 * A README comes from whoever pushed the model, so the HTML must carry nothing that
 * runs: cmark's safe mode (the default since 0.29; pinion also passes CMARK_OPT_SAFE
 * and never CMARK_OPT_UNSAFE) drops raw HTML (a comment "raw HTML omitted" stands in)
 * and empties the href/src of javascript:, vbscript:, file: and data: URLs (except
 * data: images in png, gif, jpeg or webp). Only hub pages need it, so pinion opens
 * libcmark with dlopen on first use, as core/curl_api.c does for libcurl: building
 * needs no cmark headers (image builds compile pinion without them) and pinion runs
 * without cmark until a README is shown. */
#ifndef PN_WEB_MARKDOWN_H
#define PN_WEB_MARKDOWN_H

#include <stddef.h>

/* The most Markdown pn_markdown_to_html renders (docs/limits.md). */
#define PN_MARKDOWN_MAX ((size_t)256 << 10)

/* Renders length bytes of Markdown (invalid UTF-8 becomes U+FFFD) as an HTML fragment
 * into *html (NUL-terminated; the caller frees it with pn_free). Returns 0, PN_ETOOBIG
 * over PN_MARKDOWN_MAX, PN_EUNSUPPORTED when libcmark cannot be loaded (*error, static
 * text, then says why and what to install), or PN_ENOMEM. */
int pn_markdown_to_html(const char *text, size_t length, char **html, const char **error);

#endif
