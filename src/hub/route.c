/* Matching a request path against a route pattern (see route.h). Segments are decoded
 * one at a time into bounded buffers; a failed match frees whatever it decoded, so the
 * caller owns parameters only when the path matched. */
#include "hub/route.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"

#include <string.h>

/* Decodes one `{}` segment; NULL when it is empty, too long, not decodable, or holds a
 * byte that a segment cannot (NUL, '/'). */
static char *decode_segment(const char *segment, size_t length) {
  if (length == 0 || length > 3 * PN_HUB_ROUTE_SEGMENT_MAX)
    return NULL;
  pn_buf decoded;
  pn_buf_init(&decoded, PN_HUB_ROUTE_SEGMENT_MAX);
  if (pn_percent_decode(segment, length, 0, &decoded) < 0 || decoded.length == 0 ||
      memchr(decoded.data, '\0', decoded.length) || memchr(decoded.data, '/', decoded.length)) {
    pn_buf_free(&decoded);
    return NULL;
  }
  return pn_buf_take(&decoded);
}

int pn_hub_route_match(const char *pattern, const char *path, char *params[PN_HUB_ROUTE_PARAMS]) {
  size_t count = 0;
  for (size_t i = 0; i < PN_HUB_ROUTE_PARAMS; i++)
    params[i] = NULL;
  while (*pattern && *path) {
    if (pattern[0] == '{' && pattern[1] == '}') {
      size_t length = strcspn(path, "/");
      char *segment = count < PN_HUB_ROUTE_PARAMS ? decode_segment(path, length) : NULL;
      if (!segment)
        break;
      params[count++] = segment;
      pattern += 2;
      path += length;
    } else if (*pattern == *path) {
      pattern++;
      path++;
    } else {
      break;
    }
  }
  if (*pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0))
    return 1;
  for (size_t i = 0; i < count; i++) {
    pn_free(params[i]);
    params[i] = NULL;
  }
  return 0;
}
