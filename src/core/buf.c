/* Growable byte buffers with a ceiling that fail once and stay failed. See buf.h. */
#include "core/buf.h"

#include "core/alloc.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>

void pn_buf_init(pn_buf *buf, size_t limit) {
  buf->data = NULL;
  buf->length = 0;
  buf->capacity = 0;
  buf->limit = limit;
  buf->failed = 0;
}

static void release(pn_buf *buf) {
  pn_free(buf->data);
  buf->data = NULL;
  buf->length = 0;
  buf->capacity = 0;
}

void pn_buf_free(pn_buf *buf) {
  release(buf);
  buf->failed = 0;
}

void pn_buf_reset(pn_buf *buf) {
  buf->length = 0;
  buf->failed = 0;
  if (buf->data)
    buf->data[0] = '\0';
}

int pn_buf_error(const pn_buf *buf) { return buf->failed; }

/* The first failure frees what the buffer held and is remembered: a writer that
 * checks only at the end never sends a prefix as if it were the whole. */
static int fail(pn_buf *buf, int code) {
  release(buf);
  buf->failed = code;
  return code;
}

int pn_buf_reserve(pn_buf *buf, size_t extra) {
  if (buf->failed)
    return buf->failed;
  if (extra > buf->limit - buf->length)
    return fail(buf, PN_ETOOBIG);
  size_t needed = buf->length + extra + 1;
  if (needed <= buf->capacity)
    return 0;
  size_t capacity = buf->capacity ? buf->capacity : 64;
  while (capacity < needed)
    capacity *= 2;
  char *data = pn_realloc(buf->data, capacity);
  if (!data)
    return fail(buf, PN_ENOMEM);
  buf->data = data;
  buf->capacity = capacity;
  return 0;
}

int pn_buf_append(pn_buf *buf, const void *bytes, size_t length) {
  int rc = pn_buf_reserve(buf, length);
  if (rc < 0)
    return rc;
  if (length)
    memcpy(buf->data + buf->length, bytes, length);
  buf->length += length;
  buf->data[buf->length] = '\0';
  return 0;
}

int pn_buf_append_str(pn_buf *buf, const char *text) {
  return pn_buf_append(buf, text, strlen(text));
}

int pn_buf_vappendf(pn_buf *buf, const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int length = vsnprintf(NULL, 0, format, copy);
  va_end(copy);
  if (length < 0)
    return buf->failed ? buf->failed : fail(buf, PN_EINVAL);
  int rc = pn_buf_reserve(buf, (size_t)length);
  if (rc < 0)
    return rc;
  vsnprintf(buf->data + buf->length, (size_t)length + 1, format, args);
  buf->length += (size_t)length;
  return 0;
}

int pn_buf_appendf(pn_buf *buf, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int rc = pn_buf_vappendf(buf, format, args);
  va_end(args);
  return rc;
}

void pn_buf_consume(pn_buf *buf, size_t count) {
  if (count >= buf->length) {
    pn_buf_reset(buf);
    return;
  }
  memmove(buf->data, buf->data + count, buf->length - count);
  buf->length -= count;
  buf->data[buf->length] = '\0';
}

char *pn_buf_take(pn_buf *buf) {
  char *data = buf->data;
  if (!data)
    data = pn_strdup("");
  buf->data = NULL;
  buf->length = 0;
  buf->capacity = 0;
  return data;
}
