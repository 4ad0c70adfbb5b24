/* The table of pinion's commands and the top-level help. */
#include "cli/cli.h"
#include "core/version.h"

#include <stdio.h>
#include <string.h>

static int run_help(int argc, char **argv);
static int run_version(int argc, char **argv);

static const struct pn_cli_command help_command = {
    "help", "Show help for pinion or one of its commands",
    "Usage: pinion help [COMMAND]\n\nShows what a command does and the flags it takes.\n",
    run_help};
static const struct pn_cli_command version_command = {"version", "Print pinion's version",
                                                      "Usage: pinion version\n", run_version};

const struct pn_cli_command *const pn_cli_commands[] = {
    &pn_cli_predict_command, &pn_cli_run_command, &pn_cli_train_command, &pn_cli_serve_command,
    &pn_cli_schema_command,
    &pn_cli_init_command,     &pn_cli_build_command, &pn_cli_push_command, &pn_cli_inspect_command,
    &pn_cli_exec_command,     &pn_cli_base_command, &pn_cli_hub_command, &pn_cli_director_command, &pn_cli_deploy_command, &help_command,
    &version_command,         NULL,
};

const struct pn_cli_command *pn_cli_find(const char *name) {
  for (size_t i = 0; pn_cli_commands[i]; i++)
    if (strcmp(pn_cli_commands[i]->name, name) == 0)
      return pn_cli_commands[i];
  return NULL;
}

int pn_cli_is_help(const char *arg) {
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void pn_cli_print_usage(void) {
  printf("pinion runs, serves and packages machine-learning models in the Cog format.\n\n"
         "Usage: pinion COMMAND [FLAGS]\n\nCommands:\n");
  for (size_t i = 0; pn_cli_commands[i]; i++)
    printf("  %-10s %s\n", pn_cli_commands[i]->name, pn_cli_commands[i]->summary);
  printf("\nFlags:\n  -h, --help     Show help\n  -v, --version  Print the version\n\n"
         "Run 'pinion help COMMAND' for more about a command.\n");
}

static int run_help(int argc, char **argv) {
  if (argc < 2) {
    pn_cli_print_usage();
    return 0;
  }
  const struct pn_cli_command *command = pn_cli_find(argv[1]);
  if (!command) {
    fprintf(stderr, "pinion: unknown command \"%s\". Run 'pinion help' for the list.\n", argv[1]);
    return 2;
  }
  fputs(command->help, stdout);
  return 0;
}

static int run_version(int argc, char **argv) {
  printf("pinion %s (cog %s)\n", PINION_VERSION, PN_COG_VERSION);
  return 0;
}
