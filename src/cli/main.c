/* pinion's entry point: global flags, then dispatch to a command from the table in
 * commands.c. Kept tiny so that `pinion --help` answers in a few milliseconds. */
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/version.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  pn_log_init();
  pn_alloc_install_json();
  if (argc < 2 || pn_cli_is_help(argv[1])) {
    pn_cli_print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("pinion %s (cog %s)\n", PINION_VERSION, PN_COG_VERSION);
    return 0;
  }
  const struct pn_cli_command *command = pn_cli_find(argv[1]);
  if (!command) {
    fprintf(stderr, "pinion: unknown command \"%s\". Run 'pinion help' for the list.\n", argv[1]);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      break;
    if (pn_cli_is_help(argv[i])) {
      fputs(command->help, stdout);
      return 0;
    }
  }
  return command->run(argc - 1, argv + 1);
}
