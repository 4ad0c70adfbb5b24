/* Markdown by cmark, loaded on first use. See markdown.h. */
#include "web/markdown.h"

#include "core/alloc.h"
#include "core/error.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cmark's options (cmark.h; their values are part of its ABI). */
#define CMARK_OPT_SAFE (1 << 3)
#define CMARK_OPT_VALIDATE_UTF8 (1 << 9)
/* The first release whose safe mode covers raw HTML and every unsafe URL scheme. */
#define CMARK_VERSION_NEEDED 0x001D00 /* 0.29.0 */
/* cmark's node types and iterator events that pinion uses (cmark.h; ABI since 0.25). */
#define CMARK_NODE_TEXT 11
#define CMARK_NODE_LINK 19
#define CMARK_NODE_IMAGE 20
#define CMARK_EVENT_DONE 1
#define CMARK_EVENT_ENTER 2

/* Debian's (bookworm's 0.30.2 first), then the development link any version has. */
static const char *const library_names[] = {
    "libcmark.so.0.30.2", "libcmark.so.0.31.1", "libcmark.so.0.31.0",
    "libcmark.so.0.30.3", "libcmark.so.0.30.1", "libcmark.so.0.30.0",
    "libcmark.so.0.29.0", "libcmark.so",        NULL};

/* The parts of cmark's API pinion calls: parse, walk the tree (to rewrite images),
 * render. */
typedef struct cmark_node cmark_node;
typedef struct cmark_iter cmark_iter;
static struct {
  cmark_node *(*parse_document)(const char *text, size_t length, int options);
  char *(*render_html)(cmark_node *root, int options);
  void (*node_free)(cmark_node *node);
  cmark_iter *(*iter_new)(cmark_node *root);
  int (*iter_next)(cmark_iter *iter);
  cmark_node *(*iter_get_node)(cmark_iter *iter);
  void (*iter_free)(cmark_iter *iter);
  int (*node_get_type)(cmark_node *node);
  const char *(*node_get_url)(cmark_node *node);
  int (*node_set_url)(cmark_node *node, const char *url);
  cmark_node *(*node_new)(int type);
  int (*node_set_literal)(cmark_node *node, const char *text);
  cmark_node *(*node_first_child)(cmark_node *node);
  cmark_node *(*node_parent)(cmark_node *node);
  int (*node_append_child)(cmark_node *node, cmark_node *child);
  int (*node_insert_before)(cmark_node *node, cmark_node *sibling);
} cmark;

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
  int complete = version != NULL;
#define RESOLVE(field, symbol)                                                                 \
  complete &= (*(void **)&cmark.field = dlsym(library, symbol)) != NULL
  RESOLVE(parse_document, "cmark_parse_document");
  RESOLVE(render_html, "cmark_render_html");
  RESOLVE(node_free, "cmark_node_free");
  RESOLVE(iter_new, "cmark_iter_new");
  RESOLVE(iter_next, "cmark_iter_next");
  RESOLVE(iter_get_node, "cmark_iter_get_node");
  RESOLVE(iter_free, "cmark_iter_free");
  RESOLVE(node_get_type, "cmark_node_get_type");
  RESOLVE(node_get_url, "cmark_node_get_url");
  RESOLVE(node_set_url, "cmark_node_set_url");
  RESOLVE(node_new, "cmark_node_new");
  RESOLVE(node_set_literal, "cmark_node_set_literal");
  RESOLVE(node_first_child, "cmark_node_first_child");
  RESOLVE(node_parent, "cmark_node_parent");
  RESOLVE(node_append_child, "cmark_node_append_child");
  RESOLVE(node_insert_before, "cmark_node_insert_before");
#undef RESOLVE
  if (!complete)
    return load_error = "the libcmark found lacks part of the API pinion uses (cmark_version, "
                        "cmark_parse_document, cmark_render_html, the node and iterator "
                        "functions): install Debian's libcmark0.30.2";
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

/* --- images ------------------------------------------------------------------------- */

/* Whether `url` starts with a scheme ("https:", "data:"): letters, digits, '+', '-' and
 * '.' after a letter, then ':' (RFC 3986 §3.1). When it does and `scheme` is not NULL,
 * whether that scheme is `scheme` (in any case). */
static int has_scheme(const char *url, const char *scheme) {
  if (!((*url >= 'a' && *url <= 'z') || (*url >= 'A' && *url <= 'Z')))
    return 0;
  size_t length = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
  if (url[length] != ':')
    return 0;
  return !scheme || (strlen(scheme) == length && strncasecmp(url, scheme, length) == 0);
}

/* Whether the `length` bytes of a path segment are "." or "..", in any spelling a
 * browser resolves as such ("%2e", "%2E" too), so that no URL built from a README climbs
 * out of the folder it names. */
static int is_dot_segment(const char *segment, size_t length) {
  size_t dots = 0;
  for (size_t at = 0; at < length; dots++) {
    if (segment[at] == '.')
      at++;
    else if (length - at >= 3 && segment[at] == '%' && segment[at + 1] == '2' &&
             (segment[at + 2] == 'e' || segment[at + 2] == 'E'))
      at += 3;
    else
      return 0;
  }
  return dots == 1 || dots == 2;
}

/* The file a relative image URL names in the model's folder, pn_malloc'd: "./a/b.png"
 * and "/a/b.png" (as on GitHub, from the folder's top) give "a/b.png", without any
 * ?query or #fragment. NULL when the URL is not relative (a scheme, "//host") or names
 * no file inside the folder (empty, "." or ".." segments, a backslash, which browsers
 * read as '/'). */
static char *folder_path(const char *url) {
  if (has_scheme(url, NULL) || strncmp(url, "//", 2) == 0 || strchr(url, '\\'))
    return NULL;
  while (strncmp(url, "./", 2) == 0 || *url == '/')
    url += *url == '/' ? 1 : 2;
  size_t length = strcspn(url, "?#");
  if (length == 0)
    return NULL;
  for (size_t start = 0; start <= length;) {
    const char *slash = memchr(url + start, '/', length - start);
    size_t end = slash ? (size_t)(slash - url) : length;
    if (end == start || is_dot_segment(url + start, end - start))
      return NULL;
    start = end + 1;
  }
  return pn_strndup(url, length);
}

/* Puts `image`'s alt text (its children) where it stands and frees it; inside a new
 * link to `href` when that is not NULL. 0 or PN_ENOMEM. */
static int replace_image(cmark_node *image, const char *href) {
  cmark_node *place = image;
  if (href) {
    place = cmark.node_new(CMARK_NODE_LINK);
    if (!place || !cmark.node_set_url(place, href) || !cmark.node_insert_before(image, place)) {
      if (place)
        cmark.node_free(place);
      return PN_ENOMEM;
    }
  }
  for (cmark_node *child; (child = cmark.node_first_child(image));) {
    int placed =
        href ? cmark.node_append_child(place, child) : cmark.node_insert_before(place, child);
    if (!placed)
      return PN_ENOMEM;
  }
  cmark.node_free(image);
  return 0;
}

/* What one image becomes. The pages load images from their own origin only (PN_WEB_CSP),
 * so: a relative one that names a file in the model's folder points into `image_base`;
 * data: ones stay for the safe mode to judge; a remote one becomes a link to it (its alt
 * text, or its URL), or only its alt text inside a link already; anything else its alt
 * text. */
static int rewrite_image(cmark_node *image, const char *image_base) {
  const char *url = cmark.node_get_url(image);
  if (!url)
    url = "";
  if (has_scheme(url, "data"))
    return 0;
  char *inside = folder_path(url);
  if (inside && image_base) {
    char *served = pn_strfmt("%s%s", image_base, inside);
    int set = served && cmark.node_set_url(image, served);
    pn_free(served);
    pn_free(inside);
    return set ? 0 : PN_ENOMEM;
  }
  int remote = !inside && (has_scheme(url, NULL) || strncmp(url, "//", 2) == 0);
  pn_free(inside);
  cmark_node *parent = cmark.node_parent(image);
  int in_link = parent && cmark.node_get_type(parent) == CMARK_NODE_LINK;
  /* Alt text to stand in for the image, its URL when it has none. */
  if (!cmark.node_first_child(image)) {
    cmark_node *text = cmark.node_new(CMARK_NODE_TEXT);
    if (!text || !cmark.node_set_literal(text, url) || !cmark.node_append_child(image, text)) {
      if (text)
        cmark.node_free(text);
      return PN_ENOMEM;
    }
  }
  return replace_image(image, remote && !in_link ? url : NULL);
}

/* Rewrites every image of the document (see rewrite_image). The images are collected
 * first: cmark's iterator must not see the tree change under it. */
static int rewrite_images(cmark_node *document, const char *image_base) {
  cmark_iter *iter = cmark.iter_new(document);
  if (!iter)
    return PN_ENOMEM;
  cmark_node **images = NULL;
  size_t count = 0, capacity = 0;
  int rc = 0;
  for (int event; rc == 0 && (event = cmark.iter_next(iter)) != CMARK_EVENT_DONE;) {
    cmark_node *node = cmark.iter_get_node(iter);
    if (event != CMARK_EVENT_ENTER || cmark.node_get_type(node) != CMARK_NODE_IMAGE)
      continue;
    if (count == capacity) {
      capacity = capacity ? capacity * 2 : 16;
      cmark_node **grown = pn_realloc(images, capacity * sizeof *images);
      if (!grown)
        rc = PN_ENOMEM;
      else
        images = grown;
    }
    if (rc == 0)
      images[count++] = node;
  }
  cmark.iter_free(iter);
  for (size_t i = 0; rc == 0 && i < count; i++)
    rc = rewrite_image(images[i], image_base);
  pn_free(images);
  return rc;
}

/* --- rendering ---------------------------------------------------------------------- */

int pn_markdown_to_html(const char *text, size_t length, const char *image_base, char **html,
                        const char **error) {
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
  const int options = CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8;
  cmark_node *document = cmark.parse_document(text, length, options);
  if (!document)
    return PN_ENOMEM;
  int rc = rewrite_images(document, image_base);
  char *rendered = rc == 0 ? cmark.render_html(document, options) : NULL;
  cmark.node_free(document);
  if (rc == 0 && !rendered)
    rc = PN_ENOMEM;
  if (rc < 0)
    return rc;
  /* cmark allocates with its default allocator, which is the C library's. */
  *html = pn_strdup(rendered);
  free(rendered);
  return *html ? 0 : PN_ENOMEM;
}
