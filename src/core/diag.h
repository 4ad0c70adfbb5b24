/* Diagnostics about a user's files: where (file, line, column, field) and what.
 * Loaders collect every problem they find into one list, as Cog does, so a user fixes
 * them all in one go; the CLI prints the list. */
#ifndef PN_CORE_DIAG_H
#define PN_CORE_DIAG_H

#include <stddef.h>
#include <stdio.h>

enum pn_diag_severity { PN_DIAG_ERROR, PN_DIAG_WARNING };

typedef struct pn_diag {
  enum pn_diag_severity severity;
  char *file;    /* may be NULL */
  int line;      /* 1-based; 0 when unknown */
  int column;    /* 1-based; 0 when unknown */
  char *field;   /* dotted path such as "build.python_version"; may be NULL */
  char *message; /* a full sentence fragment, e.g. `must be a list` */
} pn_diag;

typedef struct pn_diag_list {
  pn_diag *items;
  size_t count;
  size_t capacity;
} pn_diag_list;

void pn_diag_list_init(pn_diag_list *list);
/* Frees every diagnostic and the list's memory; the list is empty afterwards. */
void pn_diag_list_free(pn_diag_list *list);
/* Adds a diagnostic; copies every string. Returns 0 or PN_ENOMEM. */
int pn_diag_add(pn_diag_list *list, enum pn_diag_severity severity, const char *file, int line,
                int column, const char *field, const char *format, ...)
    __attribute__((format(printf, 7, 8)));
size_t pn_diag_count(const pn_diag_list *list, enum pn_diag_severity severity);
/* Writes one line per diagnostic, in file order: "FILE:LINE:COLUMN: error: MESSAGE"
 * (parts that are unknown are left out; messages name their field themselves, as
 * Cog's do). */
void pn_diag_print(const pn_diag_list *list, FILE *out);
/* The line for one diagnostic, pn_malloc'd. */
char *pn_diag_format(const pn_diag *diag);

#endif
