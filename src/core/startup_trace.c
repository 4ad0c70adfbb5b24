/* Start-up timing lines, written only when PINION_STARTUP_TRACE names a file. */
#include "core/startup_trace.h"

#include "core/clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* -1 not read yet, 0 off, 1 on; the process's main thread is the only caller. */
static int enabled = -1;
static char path[4096];

void pn_startup_mark(const char *step) {
  if (enabled < 0) {
    /* Copied: a later setenv may move the environment's own string. */
    const char *value = getenv("PINION_STARTUP_TRACE");
    enabled = value && *value && snprintf(path, sizeof path, "%s", value) < (int)sizeof path;
  }
  if (!enabled)
    return;
  uint64_t now = pn_clock_monotonic_ns();
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  char line[128];
  int length = snprintf(line, sizeof line, "%s %llu\n", step, (unsigned long long)now);
  if (length > 0 && (size_t)length < sizeof line && write(fd, line, (size_t)length) < 0) {
    /* nothing to do: see the header */
  }
  close(fd);
}
