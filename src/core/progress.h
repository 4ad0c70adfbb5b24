/* Progress of long work on a terminal, as clig.dev asks: one status line on stderr,
 * redrawn in place with \r at most ten times a second, shown only when stdout and
 * stderr are both terminals (and TERM is not "dumb") and the command was not given
 * --quiet. Lines printed through pn_progress_print go above the status line, which is
 * redrawn under them. Nothing here allocates. */
#ifndef PN_CORE_PROGRESS_H
#define PN_CORE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* The fewest nanoseconds between two redraws (ten a second). */
#define PN_PROGRESS_INTERVAL_NS 100000000ull

typedef struct pn_progress {
  int shown;             /* drawing at all */
  int drawn;             /* a status line is on the screen */
  int fd;                /* stderr */
  uint64_t last_draw_ns; /* 0: never drawn */
  size_t width;          /* the terminal's columns, read at start */
  char status[512];
} pn_progress;

/* Whether progress is shown: not quiet, stdout and stderr terminals, TERM not dumb. */
int pn_progress_wanted(int quiet);

/* Starts a progress view on stderr; shown when `shown` (pn_progress_wanted). */
void pn_progress_init(pn_progress *progress, int shown);

/* Sets the status line and redraws it unless the last redraw was under
 * PN_PROGRESS_INTERVAL_NS ago (force: redraw anyway). */
void pn_progress_set(pn_progress *progress, int force, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints a line (without its newline) above the status line when shown; just the line
 * on stderr otherwise. */
void pn_progress_print(pn_progress *progress, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Erases the status line (when one is drawn). */
void pn_progress_clear(pn_progress *progress);

/* "LABEL 1.5 MiB / 4.0 MiB (37%)", or "LABEL 1.5 MiB" when total is 0, into out. */
void pn_progress_bytes_text(char *out, size_t size, const char *label, uint64_t done,
                            uint64_t total);

#endif
