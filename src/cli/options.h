/* A small getopt-style reader shared by the commands: long flags with `=` or a
 * separate value, short flags, repeated flags, and errors that name the flag. */
#ifndef PN_CLI_OPTIONS_H
#define PN_CLI_OPTIONS_H

typedef struct pn_cli_args {
  int argc;
  char **argv;
  int index; /* next argument to read */
  const char *command; /* for messages */
} pn_cli_args;

void pn_cli_args_init(pn_cli_args *args, int argc, char **argv);
/* Whether argv[index] is the flag `name` (e.g. "--port") or its short form (may be
 * NULL); when it is and the flag takes a value, *value is the value (from "=" or the
 * next argument). Returns 1 when matched, 0 when not, -1 when the value is missing
 * (an error was printed). */
int pn_cli_flag(pn_cli_args *args, const char *name, const char *short_name, const char **value);
/* A flag whose value is stored as given; tables of them end with a NULL name. */
typedef struct pn_cli_text_flag {
  const char *name;       /* e.g. "--image" */
  const char *short_name; /* e.g. "-i", or NULL */
  const char **value;     /* where the value goes */
} pn_cli_text_flag;
/* Reads the text flags at argv[index] onwards, storing their values, up to the next
 * argument they do not cover. Returns 1 when there is such an argument (the caller
 * reads it), 0 at the end of the arguments, -1 when a flag's value is missing (an error
 * was printed). The command loops are `while ((more = pn_cli_next(...)) > 0)`. */
int pn_cli_next(pn_cli_args *args, const pn_cli_text_flag *flags);
/* Whether argv[index] is the boolean flag `name`/`short_name`. */
int pn_cli_switch(pn_cli_args *args, const char *name, const char *short_name);
/* Prints "pinion COMMAND: unknown flag X" with the help hint; returns 2. */
int pn_cli_unknown(pn_cli_args *args);

#endif
