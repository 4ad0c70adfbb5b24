/* `pinion serve`: run the model in a folder behind Cog's HTTP API. Accepts Cog's own
 * server flags as Cog spells them, so `python -m cog.server.http` (which pinion's cog
 * package turns into this command) and scripts written for Cog work unchanged. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "cli/schema.h"
#include "core/alloc.h"
#include "core/startup_trace.h"
#include "serve/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char serve_help[] =
    "Usage: pinion serve [DIR] [FLAGS]\n"
    "\n"
    "Serves the model in DIR (default: the current folder, or a parent holding\n"
    "cog.yaml) over Cog's HTTP prediction API: POST /predictions, GET /health-check,\n"
    "GET /openapi.json and the rest, so anything that drives a Cog container drives it.\n"
    "\n"
    "Flags:\n"
    "      --host HOST          Address to listen on (default 0.0.0.0)\n"
    "  -p, --port PORT          Port (default $PORT, else 5000; 0 picks a free one)\n"
    "      --unix-socket PATH   Listen on the unix socket PATH instead of a port\n"
    "      --upload-url URL     PUT file outputs to URL/<name> instead of inlining them\n"
    "      --await-explicit-shutdown [true|false]\n"
    "                           Ignore SIGTERM; stop on POST /shutdown or Ctrl-C\n"
    "      --x-mode MODE        predict (default) or train\n"
    "      --threads N          Accepted for Cog compatibility; slots come from\n"
    "                           COG_MAX_CONCURRENCY or cog.yaml's concurrency.max\n"
    "      --reload             Restart the worker when the model's code changes\n"
    "      --no-restart         Go DEFUNCT when the worker dies instead of restarting it\n"
    "      --setup-timeout SEC  Fail setup after SEC seconds (default $COG_SETUP_TIMEOUT)\n"
    "  -f, --file NAME          The config file name (default cog.yaml)\n"
    "      --python PATH        The model's Python (default: $PINION_PYTHON, else python3)\n"
    "      --port-file PATH     Write the port to PATH once listening\n"
    "      --image IMAGE        Serve a built image through the container engine instead\n"
    "                           (with --host, --port, -e KEY=VALUE, --engine)\n"
    "\n"
    "Environment:\n"
    "  COG_MAX_CONCURRENCY, COG_SETUP_TIMEOUT, COG_THROTTLE_RESPONSE_INTERVAL,\n"
    "  COG_STREAM_HISTORY_CAPACITY, COG_USER_AGENT, WEBHOOK_AUTH_TOKEN as in Cog;\n"
    "  PINION_CANCEL_GRACE  seconds a canceled prediction may run on before its\n"
    "                       worker is restarted (default 5)\n"
    "\n"
    "Examples:\n"
    "  pinion serve --port 8393\n"
    "  curl -s localhost:8393/predictions -H 'Content-Type: application/json' \\\n"
    "       -d '{\"input\": {\"name\": \"world\"}}'\n";

static int truthy(const char *text) {
  return !(strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0 ||
           strcasecmp(text, "no") == 0 || *text == '\0');
}

static int run_serve(int argc, char **argv) {
  pn_startup_mark("serve_main");
  if (pn_cli_has_image_flag(argc, argv))
    return pn_cli_serve_image(argc, argv);
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  pn_server_options options = {.port = -1, .wait_fd = -1};
  options.model.restart = 1;
  const char *value = NULL, *dir = NULL;
  int single_mode = 0;
  const pn_cli_text_flag text_flags[] = {
      {"--host", NULL, &options.host},
      {"--upload-url", NULL, &options.upload_url},
      {"--file", "-f", &options.model.config_name},
      {"--python", NULL, &options.model.python},
      {"--port-file", NULL, &options.port_file},
      {"--unix-socket", NULL, &options.unix_socket},
      /* The hub's sandboxed instances: URLs of the hub's internal listener (webhooks,
       * uploads, input files) go through its unix socket. */
      {"--x-hub-url", NULL, &options.hub_url},
      {"--x-hub-socket", NULL, &options.hub_socket},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    const char *arg = argv[args.index];
    if ((matched = pn_cli_flag(&args, "--port", "-p", &value)) != 0) {
      if (matched < 0)
        return 2;
      char *end = NULL;
      long port = strtol(value, &end, 10);
      if (!end || *end || port < 0 || port > 65535) {
        fprintf(stderr, "pinion serve: --port takes a number from 0 to 65535, got \"%s\"\n",
                value);
        return 2;
      }
      options.port = (int)port;
    } else if ((matched = pn_cli_flag(&args, "--x-wait-fd", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      char *end = NULL;
      long fd = strtol(value, &end, 10);
      if (!end || *end || fd < 3 || fd > 1023) {
        fprintf(stderr, "pinion serve: --x-wait-fd takes a descriptor from 3 to 1023, got "
                        "\"%s\"\n",
                value);
        return 2;
      }
      options.wait_fd = (int)fd;
    } else if (strcmp(arg, "--await-explicit-shutdown") == 0) {
      args.index++;
      options.await_explicit_shutdown = 1;
      if (args.index < argc && argv[args.index][0] != '-') {
        options.await_explicit_shutdown = truthy(argv[args.index]);
        args.index++;
      }
    } else if (strncmp(arg, "--await-explicit-shutdown=", 26) == 0) {
      options.await_explicit_shutdown = truthy(arg + 26);
      args.index++;
    } else if ((matched = pn_cli_flag(&args, "--x-mode", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      if (strcmp(value, "predict") != 0 && strcmp(value, "train") != 0) {
        fprintf(stderr, "pinion serve: --x-mode takes predict or train, got \"%s\"\n", value);
        return 2;
      }
      options.model.mode = value;
    } else if ((matched = pn_cli_flag(&args, "--threads", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
    } else if (pn_cli_switch(&args, "--reload", NULL)) {
      options.reload = 1;
    } else if (pn_cli_switch(&args, "--x-single-mode", NULL)) {
      /* The hub's instances: the hub has the model's document; skip describing the
       * other mode (a second import of the model) at every start. */
      single_mode = 1;
    } else if (pn_cli_switch(&args, "--x-traceback-in-logs", NULL)) {
      /* The hub's instances: a failed prediction's traceback ends its logs. */
      options.traceback_in_logs = 1;
    } else if (pn_cli_switch(&args, "--no-restart", NULL)) {
      options.model.restart = 0;
    } else if ((matched = pn_cli_flag(&args, "--setup-timeout", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      options.model.setup_timeout = strtod(value, NULL);
    } else if (arg[0] != '-' && !dir) {
      dir = arg;
      args.index++;
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  if (!options.hub_url != !options.hub_socket) {
    fprintf(stderr, "pinion serve: --x-hub-url and --x-hub-socket go together\n");
    return 2;
  }
  if (dir && chdir(dir) < 0) {
    fprintf(stderr, "pinion serve: cannot open the folder \"%s\"\n", dir);
    return 1;
  }
  /* A model with both `run` and `train` serves the merged document in either mode, as
   * `pinion schema` prints it and `pinion build` labels it. */
  json_t *other_mode = single_mode ? NULL
                                    : pn_cli_describe_other_mode(options.model.mode,
                                                                 options.model.config_name,
                                                                 options.model.python);
  options.model.other_mode_document = other_mode;
  int exit_code = pn_server_run(&options);
  json_decref(other_mode);
  return exit_code;
}

const struct pn_cli_command pn_cli_serve_command = {
    "serve", "Serve the model over Cog's HTTP API", serve_help, run_serve};
