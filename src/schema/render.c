/* Compact JSON rendering for schema documents and validation messages. jansson writes
 * reals with 17 significant digits (0.1 -> 0.10000000000000001), while Cog's generator
 * (Go) and its validator (Rust, serde_json) write the shortest text that reads back as
 * the same double. Documents and 422 messages must match Cog's text, so both go through
 * this renderer instead of json_dumps. */
#include "schema/render.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest significant digits of `number` (no sign, no point) and the decimal
 * exponent of the first digit: 0.015 -> "15", -2. */
static void shortest_digits(double number, char digits[24], int *exponent) {
  char text[40];
  for (int precision = 1; precision <= 17; precision++) {
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

static int render_real(pn_buf *buf, double number, enum pn_schema_number_style style) {
  if (number == 0)
    return pn_buf_append_str(buf, style == PN_SCHEMA_NUMBERS_GO ? "0" : "0.0");
  char digits[24];
  int exponent;
  int status = number < 0 ? pn_buf_append_str(buf, "-") : 0;
  if (status)
    return status;
  shortest_digits(number < 0 ? -number : number, digits, &exponent);
  int count = (int)strlen(digits);
  int scientific = style == PN_SCHEMA_NUMBERS_GO ? (exponent < -6 || exponent >= 21)
                                                 : (exponent < -5 || exponent >= 16);
  if (scientific) {
    const char *sign = exponent < 0 ? "-" : style == PN_SCHEMA_NUMBERS_GO ? "+" : "";
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
    if (!status && style == PN_SCHEMA_NUMBERS_SERDE)
      status = pn_buf_append_str(buf, ".0");
    return status;
  }
  return pn_buf_appendf(buf, "%.*s.%s", exponent + 1, digits, digits + exponent + 1);
}

static int render_string(pn_buf *buf, const char *text, size_t length) {
  int status = pn_buf_append_str(buf, "\"");
  size_t plain = 0;
  for (size_t at = 0; !status && at < length; at++) {
    unsigned char byte = (unsigned char)text[at];
    const char *escape = NULL;
    char code[8];
    switch (byte) {
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
      if (byte < 0x20) {
        snprintf(code, sizeof code, "\\u%04x", byte);
        escape = code;
      }
    }
    if (!escape)
      continue;
    status = pn_buf_append(buf, text + plain, at - plain);
    if (!status)
      status = pn_buf_append_str(buf, escape);
    plain = at + 1;
  }
  if (!status)
    status = pn_buf_append(buf, text + plain, length - plain);
  return status ? status : pn_buf_append_str(buf, "\"");
}

int pn_schema_render(pn_buf *buf, const json_t *value, enum pn_schema_number_style style) {
  int status = 0;
  switch (json_typeof(value)) {
  case JSON_NULL:
    return pn_buf_append_str(buf, "null");
  case JSON_TRUE:
    return pn_buf_append_str(buf, "true");
  case JSON_FALSE:
    return pn_buf_append_str(buf, "false");
  case JSON_INTEGER:
    return pn_buf_appendf(buf, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
  case JSON_REAL:
    return render_real(buf, json_real_value(value), style);
  case JSON_STRING:
    return render_string(buf, json_string_value(value), json_string_length(value));
  case JSON_ARRAY: {
    status = pn_buf_append_str(buf, "[");
    size_t index;
    const json_t *item;
    json_array_foreach(value, index, item) {
      if (!status && index > 0)
        status = pn_buf_append_str(buf, ",");
      if (!status)
        status = pn_schema_render(buf, item, style);
    }
    return status ? status : pn_buf_append_str(buf, "]");
  }
  case JSON_OBJECT: {
    status = pn_buf_append_str(buf, "{");
    json_t *object = (json_t *)value; /* jansson's iterators take no const */
    int first = 1;
    for (void *iter = json_object_iter(object); !status && iter;
         iter = json_object_iter_next(object, iter), first = 0) {
      const json_t *item = json_object_iter_value(iter);
      if (!first)
        status = pn_buf_append_str(buf, ",");
      if (!status)
        status = render_string(buf, json_object_iter_key(iter), json_object_iter_key_len(iter));
      if (!status)
        status = pn_buf_append_str(buf, ":");
      if (!status)
        status = pn_schema_render(buf, item, style);
    }
    return status ? status : pn_buf_append_str(buf, "}");
  }
  }
  return PN_EINVAL;
}
