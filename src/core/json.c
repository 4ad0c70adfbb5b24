/* The JSON writer. See json.h. */
#include "core/json.h"

#include "core/error.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest significant digits of `number` (positive, no sign, no point) and the
 * decimal exponent of the first digit: 0.015 -> "15", -2.
 *
 * The shortest is the fewest digits, correctly rounded, that read back as `number`.
 * For a normal double it is found in at most three tries, not up to seventeen (each a
 * snprintf and a strtod, ~2.5k instructions; an embedding's 64 floats of 4 places took
 * ~5 tries each, ~600k instructions a response): any decimal of at most 15 significant
 * digits (DBL_DIG) reads back from the double nearest it, so when the shortest has p <=
 * 15 digits, the 15 digits of `number` are those p and zeros, and 15 digits read back
 * exactly when the shortest has at most 15. Else it is 16 if they read back, or 17.
 * Subnormals hold fewer digits than DBL_DIG: they take every precision in turn. */
static void shortest_digits(double number, char digits[24], int *exponent) {
  char text[40];
  for (int precision = number >= DBL_MIN ? 15 : 1; precision <= 17; precision++) {
    snprintf(text, sizeof text, "%.*e", precision - 1, number);
    if (strtod(text, NULL) == number)
      break;
  }
  const char *at = text;
  size_t count = 0;
  for (; *at && *at != 'e'; at++)
    if (*at >= '0' && *at <= '9')
      digits[count++] = *at;
  while (count > 1 && digits[count - 1] == '0')
    count--;
  digits[count] = '\0';
  *exponent = atoi(at + 1);
}

static int render_real(pn_buf *buf, double number, int flags) {
  if (number == 0) /* -0.0 keeps its sign, as in Go's and serde's text */
    return pn_buf_append_str(buf, !(flags & PN_JSON_SERDE_NUMBERS) ? (signbit(number) ? "-0" : "0")
                                                                 : (signbit(number) ? "-0.0" : "0.0"));
  char digits[24];
  int exponent;
  int status = number < 0 ? pn_buf_append_str(buf, "-") : 0;
  if (status)
    return status;
  shortest_digits(number < 0 ? -number : number, digits, &exponent);
  int count = (int)strlen(digits);
  int scientific = !(flags & PN_JSON_SERDE_NUMBERS) ? (exponent < -6 || exponent >= 21)
                                                 : (exponent < -5 || exponent >= 16);
  if (scientific) {
    const char *sign = exponent < 0 ? "-" : !(flags & PN_JSON_SERDE_NUMBERS) ? "+" : "";
    int magnitude = exponent < 0 ? -exponent : exponent;
    if (count == 1)
      return pn_buf_appendf(buf, "%se%s%d", digits, sign, magnitude);
    return pn_buf_appendf(buf, "%c.%se%s%d", digits[0], digits + 1, sign, magnitude);
  }
  if (exponent < 0) {
    status = pn_buf_append_str(buf, "0.");
    for (int zero = -1; !status && zero > exponent; zero--)
      status = pn_buf_append_str(buf, "0");
    return status ? status : pn_buf_append_str(buf, digits);
  }
  if (count <= exponent + 1) {
    status = pn_buf_append_str(buf, digits);
    for (int zero = count; !status && zero <= exponent; zero++)
      status = pn_buf_append_str(buf, "0");
    if (!status && (flags & PN_JSON_SERDE_NUMBERS))
      status = pn_buf_append_str(buf, ".0");
    return status;
  }
  return pn_buf_appendf(buf, "%.*s.%s", exponent + 1, digits, digits + exponent + 1);
}

/* An integer in decimal, without snprintf: its format parsing costs ~1k instructions a
 * number (a response's metrics.batch_size, a list of numbers in an output). */
static int render_integer(pn_buf *buf, json_int_t number) {
  char text[24];
  char *at = text + sizeof text;
  unsigned long long magnitude =
      number < 0 ? 0ull - (unsigned long long)number : (unsigned long long)number;
  do {
    *--at = (char)('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude);
  if (number < 0)
    *--at = '-';
  return pn_buf_append(buf, at, (size_t)(text + sizeof text - at));
}

/* Bytes that need an escape in a JSON string: quote, backslash, control characters. */
static int needs_escape(unsigned char byte) { return byte < 0x20 || byte == '"' || byte == '\\'; }

/* Whether any of the eight bytes in `word` needs an escape (exact, SWAR: a byte below
 * 0x20, or equal to '"' or '\\'). */
static int word_needs_escape(uint64_t word) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  uint64_t below = (word - ones * 0x20) & ~word;
  uint64_t quote = word ^ (ones * '"'), backslash = word ^ (ones * '\\');
  uint64_t zero = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
  return ((below | zero) & highs) != 0;
}

/* The length of the prefix of `bytes` that needs no escape, eight bytes at a time. */
static size_t plain_prefix(const unsigned char *bytes, size_t length) {
  size_t at = 0;
  for (; at + 8 <= length; at += 8) {
    uint64_t word;
    memcpy(&word, bytes + at, 8);
    if (word_needs_escape(word))
      break;
  }
  while (at < length && !needs_escape(bytes[at]))
    at++;
  return at;
}

static int render_string(pn_buf *buf, const char *text, size_t length) {
  /* Reserve for the common case (nothing to escape) so long strings, such as data
   * URIs, are copied once. */
  int status = pn_buf_reserve(buf, length + 2);
  if (!status)
    status = pn_buf_append_str(buf, "\"");
  const unsigned char *bytes = (const unsigned char *)text;
  size_t plain = 0; /* the first byte not yet copied */
  size_t at;
  while (!status && (at = plain + plain_prefix(bytes + plain, length - plain)) < length) {
    const char *escape;
    char code[8];
    switch (bytes[at]) {
    case '"':
      escape = "\\\"";
      break;
    case '\\':
      escape = "\\\\";
      break;
    case '\b':
      escape = "\\b";
      break;
    case '\f':
      escape = "\\f";
      break;
    case '\n':
      escape = "\\n";
      break;
    case '\r':
      escape = "\\r";
      break;
    case '\t':
      escape = "\\t";
      break;
    default:
      snprintf(code, sizeof code, "\\u%04x", bytes[at]);
      escape = code;
    }
    status = pn_buf_append(buf, text + plain, at - plain);
    if (!status)
      status = pn_buf_append_str(buf, escape);
    plain = at + 1;
  }
  if (!status)
    status = pn_buf_append(buf, text + plain, length - plain);
  return status ? status : pn_buf_append_str(buf, "\"");
}

static int newline(int flags, int depth, pn_buf *out) {
  if (!(flags & PN_JSON_PRETTY))
    return 0;
  int status = pn_buf_append_str(out, "\n");
  for (int i = 0; !status && i < depth; i++)
    status = pn_buf_append_str(out, "  ");
  return status;
}

/* jansson 2.13 (Debian 11, Ubuntu 22.04, the bases of many images pinion is compiled
 * in) has no json_object_iter_key_len; keys there end at their first NUL. */
static size_t iter_key_length(void *iter) {
#if JANSSON_VERSION_HEX >= 0x020e00
  return json_object_iter_key_len(iter);
#else
  return strlen(json_object_iter_key(iter));
#endif
}

static int write_value(const json_t *value, int flags, int depth, pn_buf *out) {
  int status = 0;
  switch (json_typeof(value)) {
  case JSON_NULL:
    return pn_buf_append_str(out, "null");
  case JSON_TRUE:
    return pn_buf_append_str(out, "true");
  case JSON_FALSE:
    return pn_buf_append_str(out, "false");
  case JSON_INTEGER:
    return render_integer(out, json_integer_value(value));
  case JSON_REAL:
    return render_real(out, json_real_value(value), flags);
  case JSON_STRING:
    return render_string(out, json_string_value(value), json_string_length(value));
  case JSON_ARRAY: {
    size_t count = json_array_size(value);
    status = pn_buf_append_str(out, "[");
    for (size_t index = 0; !status && index < count; index++) {
      if (index > 0)
        status = pn_buf_append_str(out, ",");
      if (!status)
        status = newline(flags, depth + 1, out);
      if (!status)
        status = write_value(json_array_get(value, index), flags, depth + 1, out);
    }
    if (!status && count > 0)
      status = newline(flags, depth, out);
    return status ? status : pn_buf_append_str(out, "]");
  }
  case JSON_OBJECT: {
    status = pn_buf_append_str(out, "{");
    json_t *object = (json_t *)value; /* jansson's iterators take no const */
    int first = 1;
    for (void *iter = json_object_iter(object); !status && iter;
         iter = json_object_iter_next(object, iter), first = 0) {
      if (!first)
        status = pn_buf_append_str(out, ",");
      if (!status)
        status = newline(flags, depth + 1, out);
      if (!status)
        status = render_string(out, json_object_iter_key(iter), iter_key_length(iter));
      if (!status)
        status = pn_buf_append_str(out, flags & PN_JSON_PRETTY ? ": " : ":");
      if (!status)
        status = write_value(json_object_iter_value(iter), flags, depth + 1, out);
    }
    if (!status && !first)
      status = newline(flags, depth, out);
    return status ? status : pn_buf_append_str(out, "}");
  }
  }
  return PN_EINVAL;
}

int pn_json_write(const json_t *value, int flags, pn_buf *out) {
  return write_value(value, flags, 0, out);
}

int pn_json_write_string(const char *text, size_t length, pn_buf *out) {
  return render_string(out, text, length);
}

char *pn_json_dump(const json_t *value, int flags) {
  pn_buf out;
  pn_buf_init(&out, PN_JSON_TEXT_MAX);
  if (pn_json_write(value, flags, &out) < 0) {
    pn_buf_free(&out);
    return NULL;
  }
  return pn_buf_take(&out);
}
