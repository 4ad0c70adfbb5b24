/* HTTP Range parsing: one byte range or nothing. Multiple ranges would need a
 * multipart/byteranges body; answering them with the whole representation is allowed
 * (RFC 9110 §14.2) and is what media players never notice. Numbers saturate instead
 * of overflowing: a first position too large for 64 bits is past any file, so
 * unsatisfiable; a last position that large means "to the end". */
#include "core/http_range.h"

#include <strings.h>

typedef struct cursor {
  const char *at;
  const char *end;
} cursor;

static void skip_spaces(cursor *c) {
  while (c->at < c->end && (*c->at == ' ' || *c->at == '\t'))
    c->at++;
}

/* Reads 1*DIGIT, saturating at UINT64_MAX; returns 0 (and leaves *value) when there is
 * no digit. */
static int read_number(cursor *c, uint64_t *value) {
  const char *start = c->at;
  uint64_t number = 0;
  for (; c->at < c->end && *c->at >= '0' && *c->at <= '9'; c->at++) {
    unsigned digit = (unsigned)(*c->at - '0');
    number = number > (UINT64_MAX - digit) / 10 ? UINT64_MAX : number * 10 + digit;
  }
  if (c->at == start)
    return 0;
  *value = number;
  return 1;
}

enum pn_http_range_kind pn_http_range_parse(const char *header, size_t length, uint64_t total,
                                            pn_http_range *range) {
  if (!header)
    return PN_HTTP_RANGE_WHOLE;
  cursor c = {header, header + length};
  skip_spaces(&c);
  if ((size_t)(c.end - c.at) < 6 || strncasecmp(c.at, "bytes=", 6) != 0)
    return PN_HTTP_RANGE_WHOLE;
  c.at += 6;
  skip_spaces(&c);
  uint64_t first = 0, last = UINT64_MAX;
  int suffix = c.at < c.end && *c.at == '-';
  if (!suffix && !read_number(&c, &first))
    return PN_HTTP_RANGE_WHOLE;
  if (c.at == c.end || *c.at != '-')
    return PN_HTTP_RANGE_WHOLE;
  c.at++;
  int has_last = read_number(&c, &last);
  skip_spaces(&c);
  if (c.at != c.end || (suffix && !has_last) || (has_last && !suffix && last < first))
    return PN_HTTP_RANGE_WHOLE; /* several ranges, trailing bytes, or not a range */
  if (suffix) {
    if (last == 0 || total == 0)
      return PN_HTTP_RANGE_UNSATISFIABLE;
    range->first = last >= total ? 0 : total - last;
    range->last = total - 1;
    return PN_HTTP_RANGE_PART;
  }
  if (first >= total)
    return PN_HTTP_RANGE_UNSATISFIABLE;
  range->first = first;
  range->last = last >= total ? total - 1 : last;
  return PN_HTTP_RANGE_PART;
}
