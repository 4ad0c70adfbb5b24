/* Byte encodings used on the wire: base64 and data URIs, percent-decoding of URL
 * pieces, and UTF-8 repair for text from models. */
#ifndef PN_CORE_ENCODING_H
#define PN_CORE_ENCODING_H

#include "core/buf.h"

#include <stddef.h>

/* Appends the standard base64 (with padding, no line breaks) of `bytes` to `out`. */
int pn_base64_encode(const void *bytes, size_t length, pn_buf *out);
/* Appends the bytes that `text` encodes to `out`; PN_EPARSE when it is not base64. */
int pn_base64_decode(const char *text, size_t length, pn_buf *out);
/* Decodes a data URI, `data:[<media type>][;base64],<payload>` (RFC 2397): appends the
 * payload's bytes (base64 or percent-encoded) to `out` and sets *media_type to the media
 * type, pn_malloc'd ("" when there is none), which the caller frees. PN_EPARSE with
 * *error (static text saying what is wrong) for text that is not a data URI, has no ','
 * or holds invalid base64; out's own errors (PN_ETOOBIG past its limit) likewise. */
int pn_data_uri_decode(const char *uri, size_t length, char **media_type, pn_buf *out,
                       const char **error);
/* Appends `text` with %XX escapes decoded (and '+' as a space when `plus_is_space`). */
int pn_percent_decode(const char *text, size_t length, int plus_is_space, pn_buf *out);

/* Appends `text` to `out` with every invalid UTF-8 sequence replaced by U+FFFD, so
 * any bytes a model prints can go into JSON. */
int pn_utf8_sanitize(const char *text, size_t length, pn_buf *out);
/* How many leading bytes of `text` end on a character boundary: at most three bytes of
 * an incomplete final character are left out, for the next read to complete. */
size_t pn_utf8_complete_length(const char *text, size_t length);

#endif
