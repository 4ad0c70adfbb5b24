/* Allocation through one door, with optional failure injection for tests. */
#include "core/alloc.h"

#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long allocations_left = -1;

static int should_fail(void) {
  if (allocations_left < 0)
    return 0;
  if (allocations_left == 0)
    return 1;
  allocations_left--;
  return 0;
}

void pn_alloc_fail_after(long count) { allocations_left = count; }

void pn_alloc_keep_large_buffers(void) {
  mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
}

void pn_alloc_release_free_memory(void) { malloc_trim(0); }

void *pn_malloc(size_t size) { return should_fail() ? NULL : malloc(size ? size : 1); }

void *pn_calloc(size_t count, size_t size) {
  return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *pn_realloc(void *pointer, size_t size) {
  return should_fail() ? NULL : realloc(pointer, size ? size : 1);
}

char *pn_strndup(const char *text, size_t length) {
  if (!text)
    return NULL;
  char *copy = pn_malloc(length + 1);
  if (!copy)
    return NULL;
  memcpy(copy, text, length);
  copy[length] = '\0';
  return copy;
}

char *pn_strdup(const char *text) { return text ? pn_strndup(text, strlen(text)) : NULL; }

char *pn_strfmt(const char *format, ...) {
  va_list args;
  va_start(args, format);
  int length = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (length < 0)
    return NULL;
  char *text = pn_malloc((size_t)length + 1);
  if (!text)
    return NULL;
  va_start(args, format);
  vsnprintf(text, (size_t)length + 1, format, args);
  va_end(args);
  return text;
}

void pn_free(void *pointer) { free(pointer); }

void pn_alloc_install_json(void) { json_set_alloc_funcs(pn_malloc, pn_free); }
