/* Human diagnostics on stderr. See log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static enum pn_log_level current_level = PN_LOG_INFO;
static int use_color = 0;

static int parse_level(const char *text, enum pn_log_level *level) {
  static const struct {
    const char *name;
    enum pn_log_level level;
  } names[] = {{"debug", PN_LOG_DEBUG}, {"info", PN_LOG_INFO},   {"warn", PN_LOG_WARN},
               {"warning", PN_LOG_WARN}, {"error", PN_LOG_ERROR}, {"quiet", PN_LOG_QUIET}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(text, names[i].name) == 0) {
      *level = names[i].level;
      return 1;
    }
  }
  return 0;
}

void pn_log_init(void) {
  const char *text = getenv("PINION_LOG_LEVEL");
  if (!text || !*text)
    text = getenv("COG_LOG_LEVEL");
  if (text && *text)
    parse_level(text, &current_level);
  const char *no_color = getenv("NO_COLOR");
  const char *cog_no_color = getenv("COG_NO_COLOR");
  const char *term = getenv("TERM");
  use_color = isatty(STDERR_FILENO) && !(no_color && *no_color) &&
              !(cog_no_color && *cog_no_color) && !(term && strcmp(term, "dumb") == 0);
}

void pn_log_set_level(enum pn_log_level level) { current_level = level; }
enum pn_log_level pn_log_level(void) { return current_level; }
int pn_log_color(void) { return use_color; }

void pn_log(enum pn_log_level level, const char *format, ...) {
  if (level < current_level || level >= PN_LOG_QUIET)
    return;
  static const char *labels[] = {"debug", "info", "warning", "error"};
  static const char *colors[] = {"\033[2m", "", "\033[33m", "\033[31m"};
  char line[4096];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (use_color && level != PN_LOG_INFO)
    fprintf(stderr, "%s%s:\033[0m %s\n", colors[level], labels[level], line);
  else if (level == PN_LOG_INFO)
    fprintf(stderr, "%s\n", line);
  else
    fprintf(stderr, "%s: %s\n", labels[level], line);
}
