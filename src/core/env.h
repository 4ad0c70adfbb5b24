/* Numbers from environment variables, read one way everywhere. */
#ifndef PN_CORE_ENV_H
#define PN_CORE_ENV_H

/* The number in variable `name`: `fallback` when it is unset or empty. A value that is
 * not a number from `min` to `max` gets a warning that names the variable, what the
 * number counts (`unit`, e.g. "seconds"), the range and the value used instead, and
 * `fallback`. */
double pn_env_number(const char *name, const char *unit, double min, double max, double fallback);

#endif
