/* A JSON writer over jansson values. See json.h. */
#include "core/json.h"

#include "core/alloc.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pn_json_format_real(double number, int keep_fraction, char *out, size_t size) {
  if (!isfinite(number)) {
    snprintf(out, size, "null");
    return;
  }
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(out, size, "%.*g", precision, number);
    if (strtod(out, NULL) == number)
      break;
  }
  if (keep_fraction && !strpbrk(out, ".eEn"))
    strncat(out, ".0", size - strlen(out) - 1);
}

static int write_string(const char *text, size_t length, pn_buf *out) {
  int rc = pn_buf_append(out, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; rc == 0 && i < length; i++) {
    unsigned char c = (unsigned char)text[i];
    const char *escape = NULL;
    char unicode[8];
    switch (c) {
    case '"': escape = "\\\""; break;
    case '\\': escape = "\\\\"; break;
    case '\n': escape = "\\n"; break;
    case '\r': escape = "\\r"; break;
    case '\t': escape = "\\t"; break;
    case '\b': escape = "\\b"; break;
    case '\f': escape = "\\f"; break;
    default:
      if (c < 0x20) {
        snprintf(unicode, sizeof unicode, "\\u%04x", c);
        escape = unicode;
      }
    }
    if (!escape)
      continue;
    rc = pn_buf_append(out, text + start, i - start);
    if (rc == 0)
      rc = pn_buf_append_str(out, escape);
    start = i + 1;
  }
  if (rc == 0)
    rc = pn_buf_append(out, text + start, length - start);
  if (rc == 0)
    rc = pn_buf_append(out, "\"", 1);
  return rc;
}

static int newline(int style, int depth, pn_buf *out) {
  if (style != PN_JSON_PRETTY)
    return 0;
  int rc = pn_buf_append(out, "\n", 1);
  for (int i = 0; rc == 0 && i < depth; i++)
    rc = pn_buf_append(out, "  ", 2);
  return rc;
}

static int write_value(const json_t *value, int style, int depth, pn_buf *out) {
  char number[40];
  int rc = 0;
  switch (json_typeof(value)) {
  case JSON_NULL:
    return pn_buf_append_str(out, "null");
  case JSON_TRUE:
    return pn_buf_append_str(out, "true");
  case JSON_FALSE:
    return pn_buf_append_str(out, "false");
  case JSON_INTEGER:
    return pn_buf_appendf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
  case JSON_REAL:
    pn_json_format_real(json_real_value(value), 0, number, sizeof number);
    return pn_buf_append_str(out, number);
  case JSON_STRING:
    return write_string(json_string_value(value), json_string_length(value), out);
  case JSON_ARRAY: {
    size_t count = json_array_size(value);
    rc = pn_buf_append(out, "[", 1);
    for (size_t i = 0; rc == 0 && i < count; i++) {
      if (i)
        rc = pn_buf_append(out, ",", 1);
      if (rc == 0)
        rc = newline(style, depth + 1, out);
      if (rc == 0)
        rc = write_value(json_array_get(value, i), style, depth + 1, out);
    }
    if (rc == 0 && count)
      rc = newline(style, depth, out);
    return rc == 0 ? pn_buf_append(out, "]", 1) : rc;
  }
  case JSON_OBJECT: {
    rc = pn_buf_append(out, "{", 1);
    const char *key;
    json_t *member;
    int first = 1;
    json_object_foreach((json_t *)value, key, member) {
      if (rc == 0 && !first)
        rc = pn_buf_append(out, ",", 1);
      if (rc == 0)
        rc = newline(style, depth + 1, out);
      if (rc == 0)
        rc = write_string(key, strlen(key), out);
      if (rc == 0)
        rc = pn_buf_append_str(out, style == PN_JSON_PRETTY ? ": " : ":");
      if (rc == 0)
        rc = write_value(member, style, depth + 1, out);
      first = 0;
    }
    if (rc == 0 && !first)
      rc = newline(style, depth, out);
    return rc == 0 ? pn_buf_append(out, "}", 1) : rc;
  }
  }
  return PN_EINVAL;
}

int pn_json_write(const json_t *value, int style, pn_buf *out) {
  return write_value(value, style, 0, out);
}

char *pn_json_dump(const json_t *value, int style) {
  pn_buf out;
  pn_buf_init(&out, (size_t)1 << 34);
  if (pn_json_write(value, style, &out) < 0) {
    pn_buf_free(&out);
    return NULL;
  }
  return pn_buf_take(&out);
}
