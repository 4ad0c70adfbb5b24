/* A multipart/form-data parser. See multipart.h. It handles quoted and bare
 * parameters, CRLF or bare LF line ends in part headers, a preamble, and bodies that
 * contain the boundary text anywhere but at a line start. */
#include "hub/multipart.h"

#include "core/alloc.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *find(const char *haystack, size_t length, const char *needle,
                        size_t needle_length) {
  if (needle_length == 0 || length < needle_length)
    return NULL;
  const char *end = haystack + length - needle_length;
  for (const char *at = haystack; at <= end; at++) {
    at = memchr(at, needle[0], (size_t)(end - at) + 1);
    if (!at)
      return NULL;
    if (memcmp(at, needle, needle_length) == 0)
      return at;
  }
  return NULL;
}

/* The value of parameter `name` in a header value like `form-data; name="x"`, pn_malloc'd. */
/* The next `delimiter` in [at, end) that really is one: followed by "--", a line end
 * or transport padding, not by more boundary-like text. */
static const char *find_delimiter(const char *at, const char *end, const char *delimiter,
                                  size_t length) {
  while (at < end) {
    const char *found = find(at, (size_t)(end - at), delimiter, length);
    if (!found)
      return NULL;
    const char *after = found + length;
    if (after == end || *after == '\r' || *after == '\n' || *after == ' ' || *after == '\t' ||
        (*after == '-' && after + 1 < end && after[1] == '-'))
      return found;
    at = found + 1;
  }
  return NULL;
}

static char *parameter(const char *value, size_t length, const char *name) {
  size_t name_length = strlen(name);
  const char *end = value + length;
  const char *at = value;
  while (at < end) {
    const char *semicolon = memchr(at, ';', (size_t)(end - at));
    if (!semicolon)
      return NULL;
    at = semicolon + 1;
    while (at < end && (*at == ' ' || *at == '\t'))
      at++;
    if ((size_t)(end - at) > name_length && strncasecmp(at, name, name_length) == 0 &&
        at[name_length] == '=') {
      at += name_length + 1;
      if (at < end && *at == '"') {
        at++;
        char *out = pn_malloc((size_t)(end - at) + 1);
        if (!out)
          return NULL;
        size_t written = 0;
        while (at < end && *at != '"') {
          if (*at == '\\' && at + 1 < end)
            at++;
          out[written++] = *at++;
        }
        out[written] = '\0';
        return out;
      }
      const char *stop = at;
      while (stop < end && *stop != ';' && *stop != ' ')
        stop++;
      return pn_strndup(at, (size_t)(stop - at));
    }
  }
  return NULL;
}

static int parse_headers(const char *start, const char *end, pn_hub_part *part) {
  const char *line = start;
  while (line < end) {
    const char *newline = memchr(line, '\n', (size_t)(end - line));
    const char *stop = newline ? newline : end;
    size_t length = (size_t)(stop - line);
    if (length && line[length - 1] == '\r')
      length--;
    const char *colon = memchr(line, ':', length);
    if (colon) {
      size_t key_length = (size_t)(colon - line);
      const char *value = colon + 1;
      while (value < line + length && (*value == ' ' || *value == '\t'))
        value++;
      size_t value_length = (size_t)(line + length - value);
      if (key_length == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
        pn_free(part->name);
        pn_free(part->filename);
        part->name = parameter(value, value_length, "name");
        part->filename = parameter(value, value_length, "filename");
      } else if (key_length == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
        pn_free(part->content_type);
        part->content_type = pn_strndup(value, value_length);
      }
    }
    line = stop + 1;
  }
  return part->name ? 0 : PN_EPARSE;
}

void pn_hub_parts_free(pn_hub_part *parts, size_t count) {
  for (size_t i = 0; parts && i < count; i++) {
    pn_free(parts[i].name);
    pn_free(parts[i].filename);
    pn_free(parts[i].content_type);
  }
  pn_free(parts);
}

int pn_hub_multipart_parse(const char *content_type, const char *body, size_t length,
                           pn_hub_part **parts_out, size_t *count_out, const char **error) {
  *parts_out = NULL;
  *count_out = 0;
  *error = NULL;
  if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0) {
    *error = "the body is not multipart/form-data";
    return PN_EPARSE;
  }
  char *boundary = parameter(content_type, strlen(content_type), "boundary");
  if (!boundary || !*boundary || strlen(boundary) > 200) {
    pn_free(boundary);
    *error = "the Content-Type names no boundary";
    return PN_EPARSE;
  }
  char delimiter[210];
  size_t delimiter_length = (size_t)snprintf(delimiter, sizeof delimiter, "--%s", boundary);
  pn_free(boundary);
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *end = body + length;
  /* The first delimiter may be at the very start or after a preamble line. */
  const char *at = find_delimiter(body, end, delimiter, delimiter_length);
  int rc = at ? 0 : PN_EPARSE;
  while (rc == 0) {
    at += delimiter_length;
    if (end - at >= 2 && at[0] == '-' && at[1] == '-')
      break; /* the closing delimiter */
    const char *headers = memchr(at, '\n', (size_t)(end - at));
    if (!headers) {
      rc = PN_EPARSE;
      break;
    }
    headers++;
    const char *blank = find(headers, (size_t)(end - headers), "\r\n\r\n", 4);
    size_t blank_length = 4;
    const char *bare = find(headers, (size_t)(end - headers), "\n\n", 2);
    if (!blank || (bare && bare < blank)) {
      blank = bare;
      blank_length = 2;
    }
    /* A part without headers: the delimiter's line end is followed by a blank line. The
     * delimiter line may also be the body's last bytes, with nothing after it. */
    if (headers < end &&
        (headers[0] == '\n' || (headers[0] == '\r' && headers + 1 < end && headers[1] == '\n'))) {
      blank = headers - 1;
      blank_length = headers[0] == '\n' ? 2 : 3;
    }
    if (!blank) {
      rc = PN_EPARSE;
      break;
    }
    const char *data = blank + blank_length;
    /* The part ends at CRLF (or LF) followed by the delimiter. */
    char next[214];
    size_t next_length = (size_t)snprintf(next, sizeof next, "\n%s", delimiter);
    const char *stop = find_delimiter(data, end, next, next_length);
    if (!stop) {
      rc = PN_EPARSE;
      break;
    }
    const char *data_end = stop > data && stop[-1] == '\r' ? stop - 1 : stop;
    pn_hub_part *grown = pn_realloc(parts, (count + 1) * sizeof *parts);
    if (!grown) {
      rc = PN_ENOMEM;
      break;
    }
    parts = grown;
    memset(&parts[count], 0, sizeof parts[count]);
    count++;
    rc = parse_headers(headers, blank, &parts[count - 1]);
    parts[count - 1].data = data;
    parts[count - 1].length = (size_t)(data_end - data);
    at = stop + 1;
  }
  if (rc < 0) {
    pn_hub_parts_free(parts, count);
    *error = rc == PN_ENOMEM ? "out of memory" : "the multipart body is malformed";
    return rc;
  }
  *parts_out = parts;
  *count_out = count;
  return 0;
}

const pn_hub_part *pn_hub_part_find(const pn_hub_part *parts, size_t count, const char *name) {
  for (size_t i = 0; i < count; i++)
    if (parts[i].name && strcmp(parts[i].name, name) == 0)
      return &parts[i];
  return NULL;
}
