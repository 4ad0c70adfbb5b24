/* Diagnostics for people: one line per message on stderr, with a level. The level
 * comes from PINION_LOG_LEVEL (or Cog's COG_LOG_LEVEL): debug, info, warn, error.
 * Colour only on a terminal, and never when NO_COLOR is set (no-color.org). */
#ifndef PN_CORE_LOG_H
#define PN_CORE_LOG_H

enum pn_log_level { PN_LOG_DEBUG, PN_LOG_INFO, PN_LOG_WARN, PN_LOG_ERROR, PN_LOG_QUIET };

/* Reads the environment once; later calls to pn_log use what it found. */
void pn_log_init(void);
void pn_log_set_level(enum pn_log_level level);
enum pn_log_level pn_log_level(void);
/* Whether stderr may carry colour escapes. */
int pn_log_color(void);
void pn_log(enum pn_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

#define pn_debug(...) pn_log(PN_LOG_DEBUG, __VA_ARGS__)
#define pn_info(...) pn_log(PN_LOG_INFO, __VA_ARGS__)
#define pn_warn(...) pn_log(PN_LOG_WARN, __VA_ARGS__)
#define pn_error(...) pn_log(PN_LOG_ERROR, __VA_ARGS__)

#endif
