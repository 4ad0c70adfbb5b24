/* Command-line flag reading shared by every command. See options.h. */
#include "cli/options.h"

#include <stdio.h>
#include <string.h>

void pn_cli_args_init(pn_cli_args *args, int argc, char **argv) {
  args->argc = argc;
  args->argv = argv;
  args->index = 1;
  args->command = argv[0];
}

int pn_cli_flag(pn_cli_args *args, const char *name, const char *short_name, const char **value) {
  const char *arg = args->argv[args->index];
  const char *forms[2] = {name, short_name};
  for (int i = 0; i < 2; i++) {
    if (!forms[i])
      continue;
    size_t length = strlen(forms[i]);
    if (strncmp(arg, forms[i], length) != 0)
      continue;
    if (arg[length] == '=') {
      *value = arg + length + 1;
      args->index++;
      return 1;
    }
    if (arg[length] != '\0')
      continue;
    if (args->index + 1 >= args->argc) {
      fprintf(stderr, "pinion %s: %s needs a value. Run 'pinion help %s' for usage.\n",
              args->command, forms[i], args->command);
      return -1;
    }
    *value = args->argv[args->index + 1];
    args->index += 2;
    return 1;
  }
  return 0;
}

/* 1 when argv[index] was one of `flags` and its value was stored, 0 when none, -1 when
 * the value is missing. */
static int text_flag(pn_cli_args *args, const pn_cli_text_flag *flags) {
  for (const pn_cli_text_flag *flag = flags; flag->name; flag++) {
    int matched = pn_cli_flag(args, flag->name, flag->short_name, flag->value);
    if (matched)
      return matched;
  }
  return 0;
}

int pn_cli_next(pn_cli_args *args, const pn_cli_text_flag *flags) {
  while (args->index < args->argc) {
    int matched = text_flag(args, flags);
    if (matched <= 0)
      return matched < 0 ? -1 : 1;
  }
  return 0;
}

int pn_cli_switch(pn_cli_args *args, const char *name, const char *short_name) {
  const char *arg = args->argv[args->index];
  if ((name && strcmp(arg, name) == 0) || (short_name && strcmp(arg, short_name) == 0)) {
    args->index++;
    return 1;
  }
  return 0;
}

int pn_cli_unknown(pn_cli_args *args) {
  fprintf(stderr, "pinion %s: unknown flag \"%s\". Run 'pinion help %s' for usage.\n",
          args->command, args->argv[args->index], args->command);
  return 2;
}
