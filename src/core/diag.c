/* Lists of diagnostics about user files. See diag.h. */
#include "core/diag.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdlib.h>

void pn_diag_list_init(pn_diag_list *list) {
  list->items = NULL;
  list->count = 0;
  list->capacity = 0;
}

void pn_diag_list_free(pn_diag_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    pn_free(list->items[i].file);
    pn_free(list->items[i].field);
    pn_free(list->items[i].message);
  }
  pn_free(list->items);
  pn_diag_list_init(list);
}

int pn_diag_add(pn_diag_list *list, enum pn_diag_severity severity, const char *file, int line,
                int column, const char *field, const char *format, ...) {
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? list->capacity * 2 : 8;
    pn_diag *items = pn_realloc(list->items, capacity * sizeof *items);
    if (!items)
      return PN_ENOMEM;
    list->items = items;
    list->capacity = capacity;
  }
  pn_buf message;
  pn_buf_init(&message, 64 * 1024);
  va_list args;
  va_start(args, format);
  int rc = pn_buf_vappendf(&message, format, args);
  va_end(args);
  if (rc < 0) {
    pn_buf_free(&message);
    return rc;
  }
  pn_diag *diag = &list->items[list->count];
  diag->severity = severity;
  diag->file = pn_strdup(file);
  diag->line = line;
  diag->column = column;
  diag->field = pn_strdup(field);
  diag->message = pn_buf_take(&message);
  if ((file && !diag->file) || (field && !diag->field) || !diag->message) {
    pn_free(diag->file);
    pn_free(diag->field);
    pn_free(diag->message);
    return PN_ENOMEM;
  }
  list->count++;
  return 0;
}

size_t pn_diag_count(const pn_diag_list *list, enum pn_diag_severity severity) {
  size_t count = 0;
  for (size_t i = 0; i < list->count; i++)
    count += list->items[i].severity == severity;
  return count;
}

char *pn_diag_format(const pn_diag *diag) {
  pn_buf line;
  pn_buf_init(&line, 128 * 1024);
  if (diag->file) {
    pn_buf_append_str(&line, diag->file);
    if (diag->line > 0)
      pn_buf_appendf(&line, ":%d", diag->line);
    if (diag->line > 0 && diag->column > 0)
      pn_buf_appendf(&line, ":%d", diag->column);
    pn_buf_append_str(&line, ": ");
  }
  pn_buf_append_str(&line, diag->severity == PN_DIAG_ERROR ? "error: " : "warning: ");
  pn_buf_append_str(&line, diag->message);
  return pn_buf_take(&line);
}

static int by_position(const void *a, const void *b) {
  const pn_diag *left = *(const pn_diag *const *)a, *right = *(const pn_diag *const *)b;
  if (left->line != right->line)
    return left->line < right->line ? -1 : 1;
  if (left->column != right->column)
    return left->column < right->column ? -1 : 1;
  return left < right ? -1 : left > right; /* keep the order they were found in */
}

void pn_diag_print(const pn_diag_list *list, FILE *out) {
  /* In file order, so a person can fix them top to bottom. */
  const pn_diag **sorted = pn_malloc((list->count ? list->count : 1) * sizeof *sorted);
  if (!sorted)
    return;
  for (size_t i = 0; i < list->count; i++)
    sorted[i] = &list->items[i];
  qsort(sorted, list->count, sizeof *sorted, by_position);
  for (size_t i = 0; i < list->count; i++) {
    char *line = pn_diag_format(sorted[i]);
    if (line)
      fprintf(out, "%s\n", line);
    pn_free(line);
  }
  pn_free(sorted);
}
