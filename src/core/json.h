/* Writing JSON text the way Cog's servers do. jansson parses, but writes reals with
 * 17 significant digits (0.1 -> 0.10000000000000001), while Cog's generator (Go) and
 * its server and validator (Rust, serde_json) write the shortest text that reads back
 * as the same double. Everything pinion sends goes through this writer: compact or
 * indented, keys in insertion order, Go's or serde's number forms. */
#ifndef PN_CORE_JSON_H
#define PN_CORE_JSON_H

#include "core/buf.h"

#include <jansson.h>

enum {
  PN_JSON_COMPACT = 0,
  PN_JSON_PRETTY = 1,        /* two-space indentation, ": " after keys */
  PN_JSON_SERDE_NUMBERS = 2, /* serde_json's numbers (1.0, 1e16); default is Go's (1, 1e+21) */
};

/* The longest JSON text pinion writes in one piece (1 GiB): a response may carry a
 * 100 MiB input back, 16 MiB of logs and several 64 MiB inline outputs, base64'd. */
#define PN_JSON_TEXT_MAX ((size_t)1024 * 1024 * 1024)

/* Appends `value` to `out`. Returns 0, PN_ENOMEM or PN_ETOOBIG (the buffer's ceiling). */
int pn_json_write(const json_t *value, int flags, pn_buf *out);
/* Appends the JSON string for `length` bytes of `text` (UTF-8), quotes included: for
 * a caller that writes a message from parts it holds, without a jansson value. */
int pn_json_write_string(const char *text, size_t length, pn_buf *out);
/* `value` as a pn_malloc'd string, or NULL without memory or past PN_JSON_TEXT_MAX. */
char *pn_json_dump(const json_t *value, int flags);

#endif
