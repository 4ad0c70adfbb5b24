/* A status line on a terminal. See progress.h. */
#include "core/progress.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int pn_progress_wanted(int quiet) {
  const char *term = getenv("TERM");
  return !quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) &&
         !(term && strcmp(term, "dumb") == 0);
}

void pn_progress_init(pn_progress *progress, int shown) {
  memset(progress, 0, sizeof *progress);
  progress->shown = shown;
  progress->fd = STDERR_FILENO;
  struct winsize size;
  progress->width =
      ioctl(progress->fd, TIOCGWINSZ, &size) == 0 && size.ws_col >= 20 ? size.ws_col : 80;
}

static void write_all(int fd, const char *text, size_t length) {
  while (length) {
    ssize_t written = write(fd, text, length);
    if (written <= 0)
      return;
    text += written;
    length -= (size_t)written;
  }
}

/* \r, the status cut to the terminal's width (one column spare, so the cursor never
 * wraps), and "erase to the end of the line". */
static void draw(pn_progress *progress) {
  char line[sizeof progress->status + 8];
  size_t room = progress->width - 1;
  size_t length = strlen(progress->status);
  if (length > room) {
    length = room;
    while (length && (progress->status[length] & 0xc0) == 0x80)
      length--; /* not inside a UTF-8 sequence */
  }
  int n = snprintf(line, sizeof line, "\r%.*s\033[K", (int)length, progress->status);
  if (n > 0)
    write_all(progress->fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  progress->drawn = 1;
  progress->last_draw_ns = pn_clock_monotonic_ns();
}

void pn_progress_set(pn_progress *progress, int force, const char *format, ...) {
  if (!progress->shown)
    return;
  va_list args;
  va_start(args, format);
  vsnprintf(progress->status, sizeof progress->status, format, args);
  va_end(args);
  for (char *at = progress->status; *at; at++)
    if ((unsigned char)*at < 0x20 || *at == 0x7f)
      *at = ' '; /* an engine's line may carry \r or escapes: never let them through */
  uint64_t now = pn_clock_monotonic_ns();
  if (force || !progress->last_draw_ns || now - progress->last_draw_ns >= PN_PROGRESS_INTERVAL_NS)
    draw(progress);
}

void pn_progress_clear(pn_progress *progress) {
  if (!progress->shown || !progress->drawn)
    return;
  write_all(progress->fd, "\r\033[K", 4);
  progress->drawn = 0;
}

void pn_progress_print(pn_progress *progress, const char *format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof line - 1, format, args);
  va_end(args);
  if (n < 0)
    return;
  size_t length = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
  line[length++] = '\n';
  int was_drawn = progress->drawn;
  pn_progress_clear(progress);
  write_all(progress->fd, line, length);
  if (was_drawn)
    draw(progress);
}

static void human(char *out, size_t size, uint64_t bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = (double)bytes;
  size_t unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    unit++;
  }
  if (unit == 0)
    snprintf(out, size, "%llu B", (unsigned long long)bytes);
  else
    snprintf(out, size, "%.1f %s", value, units[unit]);
}

void pn_progress_bytes_text(char *out, size_t size, const char *label, uint64_t done,
                            uint64_t total) {
  char have[32], whole[32];
  human(have, sizeof have, done);
  if (!total) {
    snprintf(out, size, "%s %s", label, have);
    return;
  }
  human(whole, sizeof whole, total);
  unsigned percent = done >= total ? 100u : (unsigned)(done * 100 / total);
  snprintf(out, size, "%s %s / %s (%u%%)", label, have, whole, percent);
}
