/* URLs composed from parts, never by pasting strings: a name joins a URL's path
 * percent-encoded, and the query stays where it was. */
#ifndef PN_CORE_URL_H
#define PN_CORE_URL_H

/* `base` with `name` as one more path segment, percent-encoded (every byte but
 * A-Z a-z 0-9 - . _ ~), after a '/' unless the path already ends with one; base's
 * query is kept at the end. Sets *url (pn_malloc'd, the caller frees it) and returns
 * 0, or PN_EINVAL when `base` is not an absolute http(s) URL, PN_ENOMEM. */
int pn_url_append_segment(const char *base, const char *name, char **url);
/* Whether `text` is a signed input-file URL on some hub's internal listener,
 * http://HOST[:PORT]/internal/files/<id>/download[/<name>][?...]: where its path begins
 * (inside `text`), or NULL. */
const char *pn_url_internal_file_path(const char *text);

#endif
