/* Compact JSON text with shortest round-trip numbers. */
#ifndef PN_SCHEMA_RENDER_H
#define PN_SCHEMA_RENDER_H

#include "core/buf.h"

#include <jansson.h>

/* How a floating-point value is written. Both use the fewest digits that read back
 * as the same double; they differ on integral values and exponents. */
enum pn_schema_number_style {
  PN_SCHEMA_NUMBERS_GO,    /* Go's encoding/json: 1.0 -> 1, 1e21 -> 1e+21 (documents) */
  PN_SCHEMA_NUMBERS_SERDE, /* serde_json (Cog C's validator): 1.0 -> 1.0, 1e16 -> 1e16 */
};

/* Appends `value` to `buf` as compact JSON, object keys in insertion order, strings
 * escaped as serde_json does (quote, backslash and control characters only).
 * Returns 0, PN_ENOMEM or PN_ETOOBIG (the buffer's ceiling). */
int pn_schema_render(pn_buf *buf, const json_t *value, enum pn_schema_number_style style);

#endif
