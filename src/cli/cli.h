/* The command table: each command is a name, a one-line summary, its help text and
 * the function that runs it. main.c dispatches; `pinion help CMD` prints the help. */
#ifndef PN_CLI_CLI_H
#define PN_CLI_CLI_H

struct pn_cli_command {
  const char *name;
  const char *summary;
  const char *help; /* the full text of `pinion help NAME` */
  int (*run)(int argc, char **argv); /* argv[0] is the command's name; returns exit code */
};

/* The commands in the order `pinion help` lists them, ending with NULL. Each command
 * file defines its pn_cli_<name>_command. */
extern const struct pn_cli_command *const pn_cli_commands[];
extern const struct pn_cli_command pn_cli_predict_command, pn_cli_run_command, pn_cli_train_command,
    pn_cli_schema_command, pn_cli_init_command, pn_cli_serve_command, pn_cli_build_command,
    pn_cli_push_command, pn_cli_inspect_command, pn_cli_base_command, pn_cli_exec_command,
    pn_cli_hub_command, pn_cli_director_command, pn_cli_deploy_command;

const struct pn_cli_command *pn_cli_find(const char *name);
/* Prints the top-level help to stdout. */
void pn_cli_print_usage(void);
/* Whether an argument asks for help: -h or --help. */
int pn_cli_is_help(const char *arg);

#endif
