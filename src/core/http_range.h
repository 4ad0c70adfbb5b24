/* HTTP Range requests (RFC 9110 §14): which bytes of a representation of `total` bytes
 * a `Range` header asks for. A pure function over bytes, so it can be fuzzed; the hub's
 * file downloads (hub/api_files.c) answer from its result. */
#ifndef PN_CORE_HTTP_RANGE_H
#define PN_CORE_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

enum pn_http_range_kind {
  PN_HTTP_RANGE_WHOLE,         /* no usable Range: answer 200 with everything */
  PN_HTTP_RANGE_PART,          /* one satisfiable range: 206 with bytes first..last */
  PN_HTTP_RANGE_UNSATISFIABLE, /* 416 with `Content-Range: bytes * /total` */
};

typedef struct pn_http_range {
  uint64_t first; /* inclusive */
  uint64_t last;  /* inclusive; last < total */
} pn_http_range;

/* Reads `header` (`length` bytes, not NUL-terminated; NULL when absent) for a
 * representation of `total` bytes. `bytes=A-B`, `bytes=A-` and `bytes=-N` are served;
 * a range past the end is cut at the end; a header that is not a byte range, is
 * malformed, or asks for several ranges is ignored (WHOLE), as the RFC allows. A range
 * starting at or after `total`, and `bytes=-0`, are UNSATISFIABLE. `range` is set for
 * PART only. */
enum pn_http_range_kind pn_http_range_parse(const char *header, size_t length, uint64_t total,
                                            pn_http_range *range);

#endif
