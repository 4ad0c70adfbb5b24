/* Writing JSON the way Python and Go do: numbers in their shortest round-trip form
 * (0.1, not 0.10000000000000001, which is what jansson's %.17g gives), object keys in
 * insertion order. Parsing stays with jansson; this only serialises its values. */
#ifndef PN_CORE_JSON_H
#define PN_CORE_JSON_H

#include "core/buf.h"

#include <jansson.h>

enum { PN_JSON_COMPACT = 0, PN_JSON_PRETTY = 1 };

/* Appends `value` to `out`, compact or indented by two spaces. */
int pn_json_write(const json_t *value, int style, pn_buf *out);
/* `value` as a pn_malloc'd string, or NULL without memory. */
char *pn_json_dump(const json_t *value, int style);
/* The shortest text that reads back as exactly `number`: "1" for 1.0 as Go and Cog C
 * write integral floats, or Python's "1.0" when `keep_fraction` is set. */
void pn_json_format_real(double number, int keep_fraction, char *out, size_t size);

#endif
