/* `pinion hub`: run the platform server, and `pinion hub token ...` to manage its API
 * tokens. */
#include "cli/cli.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "hub/hub.h"
#include "cli/hub_scheduler.h"
#include "director/networks.h"
#include "image/network.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int token_command(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "pinion hub token: say create, list or revoke. Run 'pinion help hub'.\n");
    return 2;
  }
  const char *action = argv[1];
  pn_cli_args args;
  pn_cli_args_init(&args, argc - 1, argv + 1);
  args.command = "hub token";
  const char *data = ".pinion", *database = NULL, *account = NULL, *name = NULL, *id = NULL;
  const pn_cli_text_flag text_flags[] = {
      {"--data", NULL, &data},
      {"--database", NULL, &database},
      {"--account", NULL, &account},
      {"--name", NULL, &name},
      {NULL, NULL, NULL},
  };
  int more, director = 0;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    if (pn_cli_switch(&args, "--director", NULL))
      director = 1;
    else if (args.argv[args.index][0] != '-' && !id)
      id = args.argv[args.index++];
    else
      return pn_cli_unknown(&args);
  }
  if (more < 0)
    return 2;
  if (strcmp(action, "create") == 0) {
    if (!account == !director) {
      fprintf(stderr, "pinion hub token create: give --account NAME (an API token for the "
                      "account) or --director (a director's credential), one of the two\n");
      return 2;
    }
    char *token = NULL, *error = NULL;
    if (pn_hub_token_create(data, database, account, name, &token, &error) < 0) {
      fprintf(stderr, "error: %s\n", error ? error : "cannot create the token");
      pn_free(error);
      return 1;
    }
    printf("%s\n", token);
    pn_free(token);
    return 0;
  }
  if (strcmp(action, "list") == 0) {
    json_t *tokens = NULL;
    if (pn_hub_token_list(data, database, &tokens) < 0)
      return 1;
    size_t index;
    json_t *token;
    printf("%-14s %-20s %-20s %-28s %-28s %s\n", "ID", "ACCOUNT", "NAME", "CREATED", "LAST USED",
           "STATE");
    json_array_foreach(tokens, index, token) {
      const char *token_name = json_string_value(json_object_get(token, "name"));
      const char *last_used = json_string_value(json_object_get(token, "last_used_at"));
      printf("%-14s %-20s %-20s %-28s %-28s %s\n", json_string_value(json_object_get(token, "id")),
             json_string_value(json_object_get(token, "account")), token_name ? token_name : "-",
             json_string_value(json_object_get(token, "created_at")),
             last_used ? last_used : "never",
             json_is_true(json_object_get(token, "revoked")) ? "revoked" : "active");
    }
    json_decref(tokens);
    return 0;
  }
  if (strcmp(action, "revoke") == 0) {
    if (!id) {
      fprintf(stderr, "pinion hub token revoke: give the token's ID (see 'token list')\n");
      return 2;
    }
    int rc = pn_hub_token_revoke(data, database, id);
    if (rc == PN_ENOENT) {
      fprintf(stderr, "error: there is no token %s (see 'pinion hub token list')\n", id);
      return 1;
    }
    return rc < 0 ? 1 : 0;
  }
  fprintf(stderr, "pinion hub token: unknown action \"%s\" (create, list or revoke)\n", action);
  return 2;
}

/* A positive whole number for a limit flag, e.g. --bundle-max-size 10737418240. */
static int parse_count(const char *flag, const char *text, double *count) {
  char *end = NULL;
  double value = strtod(text, &end);
  if (end == text || *end || value < 1 || value > 1e15 || value != (double)(long long)value) {
    fprintf(stderr, "pinion hub: %s takes a whole number from 1 (got \"%s\")\n", flag, text);
    return -1;
  }
  *count = value;
  return 0;
}

/* `pinion hub migrate`: brings the database's schema up to date and says where it is. */
static int migrate_command(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  args.command = "hub migrate";
  const char *data = ".pinion", *database = NULL;
  const pn_cli_text_flag text_flags[] = {
      {"--data", NULL, &data},
      {"--database", NULL, &database},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0)
    return pn_cli_unknown(&args);
  if (more < 0)
    return 2;
  return pn_hub_migrate(data, database) < 0 ? 1 : 0;
}

/* Asks the container engine for its bridge's gateway in a child process, so that the
 * hub starts without waiting for the engine (about a second): the child writes the
 * address, or "!" and why there is none, to the pipe whose read end it leaves in
 * bridge->probe_fd, and exits. Without a child (fork or pipe failed) the hub says
 * image versions cannot run. */
static void start_bridge_probe(pn_hub_bridge_options *bridge) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0)
    return;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    pn_image_engine engine;
    char *gateway = NULL, *error = NULL;
    int rc = pn_image_engine_find(NULL, &engine, &error);
    if (rc == 0)
      rc = pn_image_bridge_gateway(&engine, &gateway, &error);
    char *answer = rc == 0 ? pn_strfmt("%s\n", gateway) : pn_strfmt("!%s\n", error ? error : "?");
    if (answer && write(fds[1], answer, strlen(answer)) < 0)
      _exit(1);
    _exit(0);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return;
  }
  bridge->probe_pid = pid;
  bridge->probe_fd = fds[0];
}

static int run_hub(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "token") == 0)
    return token_command(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "migrate") == 0)
    return migrate_command(argc - 1, argv + 1);
  pn_hub_options options = {.listen = "127.0.0.1:8080", .data_dir = ".pinion"};
  pn_cli_hub_scheduler_options scheduler = {0};
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *value = NULL, *consumers = "hub";
  const char *instance_network = getenv("PINION_INSTANCE_NETWORK");
  const pn_cli_text_flag text_flags[] = {
      {"--listen", NULL, &options.listen},
      {"--internal-listen", NULL, &options.internal_listen},
      {"--container-gateway", NULL, &options.bridge.gateway},
      {"--public-url", NULL, &options.public_url},
      {"--data", NULL, &options.data_dir},
      {"--database", NULL, &options.database},
      {"--queue", NULL, &options.queue},
      {"--queue-consumers", NULL, &consumers},
      {"--instance-network", NULL, &instance_network},
      {"--python", NULL, &scheduler.python},
      {"--port-file", NULL, &options.port_file},
      {"--metrics-listen", NULL, &options.metrics_listen},
      {"--metrics-token-file", NULL, &options.metrics_token_file},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--idle-timeout", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      scheduler.idle_timeout = atof(value);
    } else if ((matched = pn_cli_flag(&args, "--queue-lease", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      char *end = NULL;
      options.queue_lease = strtod(value, &end);
      if (end == value || *end || options.queue_lease < PN_QUEUE_LEASE_MIN ||
          options.queue_lease > PN_QUEUE_LEASE_MAX) {
        fprintf(stderr, "pinion hub: --queue-lease takes seconds from %.1f to %.0f, got \"%s\"\n",
                PN_QUEUE_LEASE_MIN, PN_QUEUE_LEASE_MAX, value);
        return 2;
      }
    } else if ((matched = pn_cli_flag(&args, "--rate-limit", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      options.rate_limit = atoi(value);
    } else if ((matched = pn_cli_flag(&args, "--isolation", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      if (pn_isolation_parse(value, &scheduler.isolation) < 0) {
        fprintf(stderr,
                "pinion hub: --isolation takes bubblewrap, container or none, got \"%s\"\n",
                value);
        return 2;
      }
    } else if ((matched = pn_cli_flag(&args, "--bundle-max-size", NULL, &value)) != 0) {
      if (matched < 0 || parse_count("--bundle-max-size", value, &options.bundle_max_bytes) < 0)
        return 2;
    } else if ((matched = pn_cli_flag(&args, "--bundle-max-entries", NULL, &value)) != 0) {
      if (matched < 0 ||
          parse_count("--bundle-max-entries", value, &options.bundle_max_entries) < 0)
        return 2;
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  if (instance_network && *instance_network && strcmp(instance_network, "on") != 0) {
    if (strcmp(instance_network, "off") != 0) {
      fprintf(stderr, "pinion hub: --instance-network (or PINION_INSTANCE_NETWORK) takes on or "
                      "off, got \"%s\"\n",
              instance_network);
      return 2;
    }
    if (scheduler.isolation == PN_ISOLATION_NONE) {
      fprintf(stderr, "pinion hub: --instance-network off needs a sandbox: with --isolation none "
                      "models run as this hub, with its network\n");
      return 2;
    }
    scheduler.instance_network_off = 1;
  }
  if (strcmp(consumers, "directors") == 0) {
    options.queue_push_only = 1;
  } else if (strcmp(consumers, "hub") != 0) {
    fprintf(stderr, "pinion hub: --queue-consumers takes hub or directors, got \"%s\"\n",
            consumers);
    return 2;
  }
  /* The hub runs its predictions on the director's scheduler, and listens where that
   * scheduler's instances reach it: the unix socket for sandboxes, the gateways of the
   * containers' networks. */
  options.scheduler = &pn_cli_hub_scheduler_ops;
  options.scheduler_context = &scheduler;
  options.internal_unix_socket = scheduler.isolation == PN_ISOLATION_BUBBLEWRAP;
  static char gateways[PN_NETWORK_SLOTS][sizeof((pn_network_slot *)0)->gateway];
  static const char *gateway_list[PN_NETWORK_SLOTS];
  for (int slot = 0; slot < PN_NETWORK_SLOTS; slot++) {
    pn_network_slot each;
    pn_network_slot_get(slot, &each);
    memcpy(gateways[slot], each.gateway, sizeof each.gateway);
    gateway_list[slot] = gateways[slot];
  }
  options.bridge.on = scheduler.isolation != PN_ISOLATION_NONE;
  options.bridge.host = PN_CONTAINER_HOST;
  options.bridge.network_gateways = gateway_list;
  options.bridge.network_gateway_count = PN_NETWORK_SLOTS;
  if (options.bridge.on && !options.bridge.gateway)
    start_bridge_probe(&options.bridge);
  return pn_hub_run(&options);
}

const struct pn_cli_command pn_cli_hub_command = {
    "hub", "Run a Replicate-compatible platform server",
    "Usage: pinion hub [FLAGS]\n"
    "       pinion hub token create --account NAME [--name LABEL] [--data DIR] [--database URL]\n"
    "       pinion hub token create --director [--name LABEL] [--data DIR] [--database URL]\n"
    "       pinion hub token list [--data DIR] [--database URL]\n"
    "       pinion hub token revoke ID [--data DIR] [--database URL]\n"
    "       pinion hub migrate [--data DIR] [--database URL]\n"
    "\n"
    "Serves Replicate's HTTP API v1 under /v1/, so Replicate's clients work against it\n"
    "with only their base URL changed. State lives in DIR: a SQLite database, files and\n"
    "model bundles; with --database the state is in PostgreSQL instead (DIR still holds\n"
    "the files, bundles and the hub's secret). Publish models with\n"
    "`pinion push --hub URL OWNER/NAME`.\n"
    "\n"
    "`token create` makes an API token for the account (creating the account) and\n"
    "prints it alone on stdout; with --director it makes a director's credential\n"
    "(`pinion director --credential FILE`), which only the internal API takes. `token\n"
    "revoke` ends either kind at once. `migrate` brings the database's schema up to date (the\n"
    "hub also does at start) and prints its version.\n"
    "\n"
    "Flags:\n"
    "      --listen HOST:PORT   Where to listen (default 127.0.0.1:8080)\n"
    "      --internal-listen HOST:PORT\n"
    "                           Where instances and directors reach the hub (webhooks,\n"
    "                           reports, output uploads); every request there needs an\n"
    "                           instance's or a director's credential\n"
    "                           (default 127.0.0.1 on a free port)\n"
    "      --container-gateway IPV4\n"
    "                           The container engine's bridge gateway, where image\n"
    "                           versions' containers reach those routes, on the same\n"
    "                           port (default: asked of the engine, e.g. 10.88.0.1)\n"
    "      --public-url URL     The origin clients see, for URLs in replies\n"
    "                           (default http://HOST:PORT)\n"
    "      --data DIR           The data folder (default ./.pinion)\n"
    "      --database URL       Keep the state in PostgreSQL:\n"
    "                           postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n"
    "                           (default: SQLite at DIR/hub.db)\n"
    "      --queue URL          Queue predictions in Redis Streams, shared by every hub\n"
    "                           given the same URL: redis://[:PASSWORD@]HOST[:PORT][/DB]\n"
    "                           (default: in this process; see docs/scale-out.md)\n"
    "      --queue-lease S      Seconds a hub holds a queued prediction without renewing\n"
    "                           before another hub takes it over (default 30;\n"
    "                           0.5 to 3600)\n"
    "      --queue-consumers WHO  Who runs the queued predictions: hub (this hub starts\n"
    "                           instances; the default) or directors (this hub only\n"
    "                           queues; `pinion director` beside each model server\n"
    "                           takes them; needs --queue)\n"
    "      --python PATH        The Python that runs models\n"
    "      --idle-timeout S     Seconds before an idle instance stops (default 60)\n"
    "      --rate-limit N       Requests per minute per account (default: not enforced)\n"
    "      --bundle-max-size B  Bytes a pushed bundle may unpack to (default 20 GiB;\n"
    "                           also PINION_BUNDLE_MAX_SIZE)\n"
    "      --bundle-max-entries N  Files and folders in a pushed bundle (default\n"
    "                           100000; also PINION_BUNDLE_MAX_ENTRIES)\n"
    "      --port-file PATH     Write the port listened on to PATH\n"
    "      --metrics-listen HOST:PORT\n"
    "                           Serve GET /metrics (Prometheus text: per deployment\n"
    "                           and busy version, queue depth, predictions in flight,\n"
    "                           instances, min/max and desired instances) there, and\n"
    "                           nothing else (default: no metrics). Never on --listen:\n"
    "                           keep it where only Prometheus reaches it, or add\n"
    "      --metrics-token-file FILE\n"
    "                           Scrapes must send the file's first line (16 bytes or\n"
    "                           more) as `Authorization: Bearer TOKEN`\n"
    "      --isolation MODE     How pushed models run (default bubblewrap):\n"
    "                           bubblewrap  folder versions in a bubblewrap sandbox (no\n"
    "                                       view of the data folder, an empty environment,\n"
    "                                       an unprivileged uid), image versions in the\n"
    "                                       container engine, without capabilities, on\n"
    "                                       its bridge network (not the host's)\n"
    "                           container   image versions only; folder versions are refused\n"
    "                           none        as this hub's user, with its environment and\n"
    "                                       files: ONLY if you trust everyone who can push\n"
    "                           It applies to every model and deployment.\n"
    "      --instance-network on|off\n"
    "                           Whether sandboxed models reach the network (default on,\n"
    "                           also PINION_INSTANCE_NETWORK). on: through slirp4netns,\n"
    "                           never to this host's loopback (the hub, databases, other\n"
    "                           models); the host's other addresses and the outside are\n"
    "                           reachable. off: only the sandbox's own loopback; input\n"
    "                           URLs must be this hub's files; image versions are refused\n"
    "\n"
    "Environment:\n"
    "  PINION_SANDBOX_MEMORY_MB   memory, MiB, of each process of an instance\n"
    "                             (RLIMIT_DATA), or of a container (--memory)\n"
    "                             (default 8192; 0: unlimited)\n"
    "  PINION_SANDBOX_PROCESSES   processes of an instance: RLIMIT_NPROC (not enforced\n"
    "                             when the hub runs as root), or the container's\n"
    "                             --pids-limit (default 512; 0: unlimited)\n"
    "  PINION_BWRAP               the bubblewrap program (default: bwrap on PATH)\n"
    "  PINION_SLIRP4NETNS         the slirp4netns program (default: slirp4netns on PATH)\n"
    "  PINION_QUEUE_PASSWORD      Redis's password, when the --queue URL has none\n"
    "\n"
    "See docs/security.md for what each isolation mode keeps from a model.\n",
    run_hub};
