/* `pinion director`: takes a target's predictions from the queue and runs them on the
 * model server beside it (src/director/). This file reads the flags and the credential
 * file and turns --version / --deployment into the target's stream key. */
#include "cli/cli.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "core/env.h"
#include "core/fs.h"
#include "director/director.h"
#include "queue/queue.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREDENTIAL_PREFIX "pnd_"

/* A number of seconds in [min, max] for `flag`; -1 after saying what is wrong. */
static double parse_seconds(const char *flag, const char *text, double min, double max) {
  char *end = NULL;
  double value = strtod(text, &end);
  if (end == text || *end || value < min || value > max) {
    fprintf(stderr, "pinion director: %s takes seconds from %g to %g, got \"%s\"\n", flag, min,
            max, text);
    return -1;
  }
  return value;
}

/* The credential in `path`: its first line, trimmed; NULL after saying what is wrong. */
static char *read_credential(const char *path) {
  char *text = NULL;
  size_t length = 0;
  if (pn_fs_read(path, 4096, &text, &length) < 0) {
    fprintf(stderr, "pinion director: cannot read the credential file %s\n", path);
    return NULL;
  }
  size_t start = 0;
  while (start < length && isspace((unsigned char)text[start]))
    start++;
  size_t end = start;
  while (end < length && !isspace((unsigned char)text[end]))
    end++;
  char *credential = pn_strndup(text + start, end - start);
  pn_free(text);
  if (credential && strncmp(credential, CREDENTIAL_PREFIX, strlen(CREDENTIAL_PREFIX)) != 0) {
    fprintf(stderr,
            "pinion director: %s does not hold a director's credential (they start with "
            "\"" CREDENTIAL_PREFIX "\"); create one with `pinion hub token create --director` "
            "(an API token is refused on the hub's internal API)\n",
            path);
    pn_free(credential);
    return NULL;
  }
  return credential;
}

/* The stream key of --version OWNER/NAME:ID (or a bare ID) or --deployment OWNER/NAME. */
static char *target_key(const char *version, const char *deployment) {
  if (!version == !deployment) {
    fprintf(stderr, "pinion director: give --version OWNER/NAME:ID or --deployment OWNER/NAME "
                    "(one of the two): the predictions to take\n");
    return NULL;
  }
  if (deployment) {
    const char *slash = strchr(deployment, '/');
    if (!slash || slash == deployment || !slash[1] || strchr(slash + 1, '/')) {
      fprintf(stderr, "pinion director: --deployment takes OWNER/NAME, got \"%s\"\n",
              deployment);
      return NULL;
    }
    return pn_strfmt("deployment:%s", deployment);
  }
  const char *colon = strrchr(version, ':');
  const char *id = colon ? colon + 1 : version;
  if (!*id || strchr(id, '/') || (!colon && strchr(version, '/'))) {
    fprintf(stderr,
            "pinion director: --version takes OWNER/NAME:ID or a version ID, got \"%s\"\n",
            version);
    return NULL;
  }
  return pn_strdup(id);
}

static int run_director(int argc, char **argv) {
  pn_director_options options = {.listen = "127.0.0.1:4900",
                                 .boot_timeout = 600,
                                 .drain_timeout = 60};
  const char *credential_path = NULL, *version = NULL, *deployment = NULL, *value = NULL;
  const char *instance_network = getenv("PINION_INSTANCE_NETWORK");
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const pn_cli_text_flag text_flags[] = {
      {"--hub", NULL, &options.hub_url},
      {"--queue", NULL, &options.queue},
      {"--credential", NULL, &credential_path},
      {"--model-url", NULL, &options.model_url},
      {"--version", NULL, &version},
      {"--deployment", NULL, &deployment},
      {"--listen", NULL, &options.listen},
      {"--port-file", NULL, &options.port_file},
      {"--python", NULL, &options.python},
      {"--instance-network", NULL, &instance_network},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if (pn_cli_switch(&args, "--serve", NULL)) {
      options.serve = 1;
    } else if (pn_cli_switch(&args, "--train", NULL)) {
      options.mode = "train";
    } else if ((matched = pn_cli_flag(&args, "--isolation", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      if (pn_isolation_parse(value, &options.isolation) < 0) {
        fprintf(stderr,
                "pinion director: --isolation takes bubblewrap, container or none, got \"%s\"\n",
                value);
        return 2;
      }
    } else if ((matched = pn_cli_flag(&args, "--slots", NULL, &value)) != 0) {
      char *end = NULL;
      long slots = matched > 0 ? strtol(value, &end, 10) : 0;
      if (matched < 0 || end == value || *end || slots < 1 || slots > 10000) {
        if (matched > 0)
          fprintf(stderr, "pinion director: --slots takes a number from 1 to 10000, got \"%s\"\n",
                  value);
        return 2;
      }
      options.slots = (int)slots;
    } else if ((matched = pn_cli_flag(&args, "--queue-lease", NULL, &value)) != 0) {
      if (matched < 0 || (options.queue_lease = parse_seconds("--queue-lease", value,
                                                              PN_QUEUE_LEASE_MIN,
                                                              PN_QUEUE_LEASE_MAX)) < 0)
        return 2;
    } else if ((matched = pn_cli_flag(&args, "--boot-timeout", NULL, &value)) != 0) {
      if (matched < 0 ||
          (options.boot_timeout = parse_seconds("--boot-timeout", value, 1, 86400)) < 0)
        return 2;
    } else if ((matched = pn_cli_flag(&args, "--drain-timeout", NULL, &value)) != 0) {
      if (matched < 0 ||
          (options.drain_timeout = parse_seconds("--drain-timeout", value, 0, 86400)) < 0)
        return 2;
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  const char *missing = !options.hub_url   ? "--hub URL (the hub's internal listener)"
                        : !options.queue   ? "--queue redis://..."
                        : !credential_path ? "--credential FILE"
                        : !options.model_url && !options.serve
                            ? "--model-url URL (the model server), or --serve (start it)"
                            : NULL;
  if (missing) {
    fprintf(stderr, "pinion director: %s is required. Run 'pinion help director'.\n", missing);
    return 2;
  }
  if (options.model_url && options.serve) {
    fprintf(stderr, "pinion director: give --model-url (a model server someone else runs) or "
                    "--serve (the director starts it), not both\n");
    return 2;
  }
  if (instance_network && *instance_network && strcmp(instance_network, "on") != 0) {
    if (strcmp(instance_network, "off") != 0) {
      fprintf(stderr,
              "pinion director: --instance-network (or PINION_INSTANCE_NETWORK) takes on "
              "or off, got \"%s\"\n",
              instance_network);
      return 2;
    }
    options.instance_network_off = 1;
  }
  /* A server it starts says its own slots when READY (its COG_MAX_CONCURRENCY, or a
   * batching model's 2 x max_size): 0 takes those. */
  if (!options.slots && !options.serve)
    options.slots = (int)pn_env_number("COG_MAX_CONCURRENCY", "prediction slots", 1, 10000, 1);
  char *target = target_key(version, deployment);
  if (!target)
    return 2;
  if (options.mode && deployment) {
    fprintf(stderr, "pinion director: --train takes the trainings of a --version; a deployment "
                    "runs predictions only\n");
    pn_free(target);
    return 2;
  }
  /* A version's trainings have a stream of their own, "<id>:train" (the hub's key). */
  char *version_id = version ? pn_strdup(target) : NULL;
  if (options.mode) {
    char *train_key = pn_strfmt("%s:train", target);
    pn_free(target);
    target = train_key;
  }
  if (!target || (version && !version_id)) {
    pn_free(target);
    pn_free(version_id);
    return 1;
  }
  char *credential = read_credential(credential_path);
  if (!credential) {
    pn_free(target);
    pn_free(version_id);
    return 2;
  }
  options.target = target;
  options.credential = credential;
  options.version_id = version_id;
  options.deployment = deployment;
  int rc = pn_director_run(&options);
  memset(credential, 0, strlen(credential));
  pn_free(credential);
  pn_free(target);
  pn_free(version_id);
  return rc;
}

const struct pn_cli_command pn_cli_director_command = {
    "director", "Run a model server's predictions from the hub's queue",
    "Usage: pinion director --hub URL --queue redis://... --credential FILE\n"
    "                       (--model-url URL | --serve)\n"
    "                       (--version OWNER/NAME:ID | --deployment OWNER/NAME) [FLAGS]\n"
    "\n"
    "Runs beside one model server (pinion serve, or a pinion- or Cog-built image) and\n"
    "feeds it from the hub's queue: it waits for the server's READY, takes the target's\n"
    "predictions from its Redis stream (as many at once as --slots), sends each to the\n"
    "server (PUT /predictions/ID with a webhook back to the director), relays the\n"
    "server's progress and output files to the hub's internal API, and acknowledges a\n"
    "prediction only once the hub has stored its outcome. If the director dies, another\n"
    "takes its predictions over after the lease. A cancel on any hub reaches it.\n"
    "SIGTERM drains: nothing more is taken, what has not started goes back to the queue,\n"
    "and what runs may finish within --drain-timeout. Run the hub with\n"
    "`--queue redis://... --queue-consumers directors`, and the model server with\n"
    "`--upload-url http://LISTEN/upload/` so that output files reach the hub.\n"
    "\n"
    "With --serve instead of --model-url the director starts the model server itself:\n"
    "it fetches the folder version (--version, or the deployment's current version)\n"
    "from the hub's internal API with its credential, unpacks it into a scratch folder\n"
    "under $TMPDIR, and runs `pinion serve` on it sandboxed as `pinion hub` runs its\n"
    "models (--isolation, --instance-network, --python as the hub's). The sandboxed\n"
    "server reaches the director's webhooks and uploads through a unix socket of the\n"
    "director bound into the sandbox. An image version is refused: run the image and\n"
    "give its address to --model-url. If the server dies the director exits with 1\n"
    "and the server log's tail; on SIGTERM it drains, then stops the server.\n"
    "\n"
    "Flags:\n"
    "      --hub URL            The hub's internal listener (its --internal-listen),\n"
    "                           http://HOST:PORT\n"
    "      --queue URL          The hubs' queue: redis://[:PASSWORD@]HOST[:PORT][/DB]\n"
    "      --credential FILE    A file holding a director's credential\n"
    "                           (`pinion hub token create --director`)\n"
    "      --model-url URL      The model server, e.g. http://127.0.0.1:5000\n"
    "      --serve              Start the model server for the version (see above)\n"
    "      --train              Take the version's trainings instead of its predictions\n"
    "                           (with --serve the server runs in train mode; with\n"
    "                           --model-url, start it so: `pinion serve --x-mode train`)\n"
    "      --isolation MODE     With --serve: bubblewrap (default) or none (the model\n"
    "                           runs as this user, with its files and credential)\n"
    "      --instance-network on|off  With --serve: off gives the sandbox only its own\n"
    "                           loopback (default on, or $PINION_INSTANCE_NETWORK)\n"
    "      --python PATH        With --serve: the model's Python\n"
    "      --version OWNER/NAME:ID  Take the predictions of this version\n"
    "      --deployment OWNER/NAME  Take the predictions of this deployment\n"
    "      --slots N            Predictions the model server runs at once (default: with\n"
    "                           --serve, what the server reports when READY; else\n"
    "                           $COG_MAX_CONCURRENCY, else 1)\n"
    "      --listen HOST:PORT   The director's listener: GET /health, GET /metrics, the\n"
    "                           model server's webhooks and PUT /upload/NAME (default\n"
    "                           127.0.0.1:4900; keep it on loopback)\n"
    "      --queue-lease S      Seconds a prediction is held without renewing before\n"
    "                           another director takes it over (default 30; as the hubs')\n"
    "      --boot-timeout S     Seconds to wait for the model server's READY (default\n"
    "                           600; with --serve, from its start)\n"
    "      --drain-timeout S    Seconds SIGTERM lets running predictions finish (default 60)\n"
    "      --port-file PATH     Write the port listened on to PATH\n"
    "\n"
    "Environment:\n"
    "  PINION_QUEUE_PASSWORD      Redis's password, when the --queue URL has none\n"
    "\n"
    "See docs/scale-out.md for running a hub, Redis, directors and model servers.\n",
    run_director};
