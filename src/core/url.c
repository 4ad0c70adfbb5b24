/* URL composition on libevent's URI parser (evhttp_uri_*): parse the base, encode the
 * new segment with evhttp_uriencode, set the path, and write the URI back. See url.h. */
#include "core/url.h"

#include "core/alloc.h"
#include "core/error.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int pn_url_append_segment(const char *base, const char *name, char **url) {
  *url = NULL;
  struct evhttp_uri *uri = evhttp_uri_parse_with_flags(base, EVHTTP_URI_NONCONFORMANT);
  const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
  if (!uri || !scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) ||
      !evhttp_uri_get_host(uri)) {
    if (uri)
      evhttp_uri_free(uri);
    return PN_EINVAL;
  }
  char *encoded = evhttp_uriencode(name, -1, 0);
  const char *path = evhttp_uri_get_path(uri);
  if (!path)
    path = "";
  size_t length = strlen(path);
  char *joined = encoded ? pn_strfmt("%s%s%s", path, length && path[length - 1] == '/' ? "" : "/",
                                     encoded)
                         : NULL;
  free(encoded); /* evhttp_uriencode's memory comes from libevent's allocator (malloc) */
  int rc = joined && evhttp_uri_set_path(uri, joined) == 0 ? 0 : PN_ENOMEM;
  pn_free(joined);
  if (rc == 0) {
    size_t size = strlen(base) * 3 + strlen(name) * 3 + 16;
    char *text = pn_malloc(size);
    if (text && evhttp_uri_join(uri, text, size))
      *url = text;
    else {
      pn_free(text);
      rc = PN_ENOMEM;
    }
  }
  evhttp_uri_free(uri);
  return rc;
}

const char *pn_url_internal_file_path(const char *text) {
  const char *rest = strncmp(text, "http://", 7) == 0 ? text + 7 : NULL;
  const char *slash = rest ? strchr(rest, '/') : NULL;
  if (!slash || slash == rest || strncmp(slash, "/internal/files/", 16) != 0)
    return NULL;
  const char *id_end = strchr(slash + 16, '/');
  if (!id_end || id_end == slash + 16 || strncmp(id_end, "/download", 9) != 0 ||
      (id_end[9] != '?' && id_end[9] != '/'))
    return NULL;
  return slash;
}
