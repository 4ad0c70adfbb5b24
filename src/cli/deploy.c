/* `pinion deploy kubernetes OWNER/NAME`: prints the Kubernetes manifests that run a hub
 * deployment's pods (the model's image with `pinion director` beside it) and scale them
 * with KEDA on the deployment's Redis stream. It reads the deployment and its version's
 * runtime from the hub's API with the user's token; the manifests are made by
 * cli/kube.c. */
#include "cli/cli.h"
#include "cli/kube.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/version.h"
#include "core/yaml_write.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most of one answer kept: a deployment or a runtime document is well under 1 MiB. */
#define ANSWER_MAX ((size_t)1 << 20)
#define SHOWN_MAX 300

typedef struct answer {
  struct event_base *base;
  long status;
  char *body;
  size_t length;
  char *error;
} answer;

static void on_answer(const pn_http_response *response, void *arg) {
  answer *state = arg;
  state->status = response->ok ? response->status : 0;
  if (!response->ok)
    state->error = pn_strdup(response->error ? response->error : "the request failed");
  else if (response->body && response->body->data) {
    state->body = pn_strndup(response->body->data, response->body->length);
    state->length = state->body ? response->body->length : 0;
  }
  event_base_loopexit(state->base, NULL);
}

/* GETs `path` from the hub; 0 with the 200 answer's body in *state, else 1 after saying
 * on stderr what went wrong (`what` names the object). */
static int hub_get(const char *hub, const char *token, const char *path, const char *what,
                   answer *state) {
  size_t hub_length = strlen(hub);
  while (hub_length && hub[hub_length - 1] == '/')
    hub_length--;
  char *url = pn_strfmt("%.*s%s", (int)hub_length, hub, path);
  char *authorization = pn_strfmt("Authorization: Bearer %s", token);
  const char *headers[] = {authorization, "Accept: application/json", NULL};
  state->base = event_base_new();
  pn_http_client *client = NULL;
  int rc = url && authorization && state->base ? pn_http_client_new(state->base, &client) : -1;
  if (rc == 0) {
    pn_http_request request = {.method = "GET", .url = url, .headers = headers,
                               .max_response = ANSWER_MAX, .timeout_ms = 30000};
    rc = pn_http_client_send(client, &request, on_answer, state, NULL);
    if (rc == 0)
      event_base_dispatch(state->base);
  }
  pn_http_client_free(client);
  event_base_free(state->base);
  pn_free(url);
  pn_free(authorization);
  if (rc < 0 || state->error) {
    fprintf(stderr, "error: cannot reach the hub at %s: %s\n", hub,
            state->error ? state->error : "the request could not start");
    return 1;
  }
  if (state->status == 200)
    return 0;
  json_t *reply = state->body ? json_loadb(state->body, state->length, 0, NULL) : NULL;
  const char *detail = json_string_value(json_object_get(reply, "detail"));
  char shown[SHOWN_MAX + 1];
  snprintf(shown, sizeof shown, "%s", detail ? detail : "no detail");
  for (char *c = shown; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = '?';
  fprintf(stderr, "error: the hub at %s answered HTTP %ld for %s: %s\n", hub, state->status, what,
          shown);
  json_decref(reply);
  return 1;
}

static void answer_free(answer *state) {
  pn_free(state->body);
  pn_free(state->error);
}

static int parse_number(const char *flag, const char *value, long min, long max, long *out) {
  char *end = NULL;
  long number = strtol(value, &end, 10);
  if (end == value || *end || number < min || number > max) {
    fprintf(stderr, "pinion deploy kubernetes: %s takes a whole number from %ld to %ld, got \"%s\"\n",
            flag, min, max, value);
    return -1;
  }
  *out = number;
  return 0;
}

/* Prints the manifests as YAML documents or as one JSON List. */
static int print_manifests(json_t *manifests, int as_json) {
  pn_buf text;
  pn_buf_init(&text, (size_t)16 << 20);
  int rc;
  if (as_json) {
    json_t *list = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items",
                             manifests);
    rc = list ? pn_json_write(list, PN_JSON_PRETTY, &text) : PN_ENOMEM;
    if (rc == 0)
      rc = pn_buf_append(&text, "\n", 1);
    json_decref(list);
  } else {
    rc = pn_yaml_write_documents(manifests, &text);
  }
  if (rc == 0)
    fwrite(text.data, 1, text.length, stdout);
  else
    fprintf(stderr, "error: cannot write the manifests: %s\n", pn_strerror(rc));
  pn_buf_free(&text);
  return rc == 0 ? 0 : 1;
}

static int run_kubernetes(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *hub = getenv("PINION_HUB"), *token = getenv("REPLICATE_API_TOKEN");
  const char *output = "yaml", *slots_text = NULL, *timeout_text = NULL, *gpus_text = NULL;
  static char default_image[64];
  snprintf(default_image, sizeof default_image, "pinion:%s", PINION_VERSION);
  pn_cli_kube_options options = {
      .pinion_image = default_image,
      .internal_url = "http://pinion-hub:8081",
      .queue = "redis://pinion-redis:6379/0",
      .credential_secret = "pinion-director",
      .slots = 1,
      .prediction_timeout = 600,
      .gpus = -1,
  };
  const pn_cli_text_flag text_flags[] = {
      {"--hub", NULL, &hub},
      {"--token", NULL, &token},
      {"--image", NULL, &options.image},
      {"--namespace", "-n", &options.namespace},
      {"--pinion-image", NULL, &options.pinion_image},
      {"--internal-url", NULL, &options.internal_url},
      {"--queue", NULL, &options.queue},
      {"--queue-password-secret", NULL, &options.queue_password_secret},
      {"--credential-secret", NULL, &options.credential_secret},
      {"--slots", NULL, &slots_text},
      {"--prediction-timeout", NULL, &timeout_text},
      {"--gpus", NULL, &gpus_text},
      {"--output", "-o", &output},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    if (argv[args.index][0] != '-' && !options.deployment)
      options.deployment = argv[args.index++];
    else
      return pn_cli_unknown(&args);
  }
  if (more < 0)
    return 2;
  long number = 0;
  if (slots_text) {
    if (parse_number("--slots", slots_text, 1, 10000, &number) < 0)
      return 2;
    options.slots = (int)number;
  }
  if (timeout_text) {
    if (parse_number("--prediction-timeout", timeout_text, 1, 86400, &number) < 0)
      return 2;
    options.prediction_timeout = number;
  }
  if (gpus_text) {
    if (parse_number("--gpus", gpus_text, 0, 64, &number) < 0)
      return 2;
    options.gpus = (int)number;
  }
  if (strcmp(output, "yaml") != 0 && strcmp(output, "json") != 0) {
    fprintf(stderr, "pinion deploy kubernetes: --output takes yaml or json, got \"%s\"\n", output);
    return 2;
  }
  const char *slash = options.deployment ? strchr(options.deployment, '/') : NULL;
  if (!hub || !slash || slash == options.deployment || !slash[1] || strchr(slash + 1, '/')) {
    fprintf(stderr, "pinion deploy kubernetes: give the deployment and the hub: pinion deploy "
                    "kubernetes OWNER/NAME --hub URL\n");
    return 2;
  }
  if (!token || !*token) {
    fprintf(stderr, "pinion deploy kubernetes: no token: pass --token or set REPLICATE_API_TOKEN "
                    "(the deployment's owner's API token)\n");
    return 2;
  }
  answer deployment = {0}, runtime = {0};
  char *model = NULL, *version = NULL, *problem = NULL;
  json_t *manifests = NULL;
  char *path = pn_strfmt("/v1/deployments/%s", options.deployment);
  int exit_code = path ? hub_get(hub, token, path, options.deployment, &deployment) : 1;
  pn_free(path);
  if (exit_code == 0 && pn_cli_kube_release(deployment.body, deployment.length, &model, &version,
                                            &problem) < 0)
    exit_code = 1;
  if (exit_code == 0) {
    path = pn_strfmt("/v1/models/%s/versions/%s/runtime", model, version);
    exit_code = path ? hub_get(hub, token, path, "the deployment's version", &runtime) : 1;
    pn_free(path);
  }
  if (exit_code == 0 &&
      pn_cli_kube_manifests(&options, deployment.body, deployment.length, runtime.body,
                            runtime.length, &manifests, &problem) < 0)
    exit_code = 1;
  if (problem)
    fprintf(stderr, "error: %s\n", problem);
  if (exit_code == 0)
    exit_code = print_manifests(manifests, strcmp(output, "json") == 0);
  json_decref(manifests);
  pn_free(problem);
  pn_free(model);
  pn_free(version);
  answer_free(&deployment);
  answer_free(&runtime);
  return exit_code;
}

static int run_deploy(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "kubernetes") == 0)
    return run_kubernetes(argc - 1, argv + 1);
  fprintf(stderr, "pinion deploy: say where: pinion deploy kubernetes OWNER/NAME --hub URL "
                  "(run 'pinion help deploy')\n");
  return 2;
}

const struct pn_cli_command pn_cli_deploy_command = {
    "deploy", "Print the manifests that run a hub deployment elsewhere",
    "Usage: pinion deploy kubernetes OWNER/NAME --hub URL [FLAGS] | kubectl apply -f -\n"
    "\n"
    "Prints the Kubernetes manifests for the hub deployment OWNER/NAME, read from the\n"
    "hub's API with your token:\n"
    "  - a Deployment whose pods run the model's image (Cog's HTTP API on port 5000;\n"
    "    readiness on its /health-check) with `pinion director` beside it, which takes\n"
    "    the deployment's predictions from its Redis stream and reports to the hub's\n"
    "    internal listener (liveness on the director's /health, port 4900); a GPU\n"
    "    request (nvidia.com/gpu) when the version needs one (cog.yaml's build.gpu) or\n"
    "    the deployment's hardware is a GPU; termination grace longer than the longest\n"
    "    prediction, so that a stopping pod finishes what it runs;\n"
    "  - a NetworkPolicy that lets nothing in (the pods only call out);\n"
    "  - a KEDA ScaledObject on the stream's length: min_instances to max_instances\n"
    "    pods (0 scales to zero), one per --slots predictions waiting or running.\n"
    "Run the hub with --queue-consumers directors on the same Redis (deploy/kubernetes/\n"
    "has the hub, PostgreSQL and Redis). See docs/scale-out.md, \"On Kubernetes\".\n"
    "\n"
    "Flags:\n"
    "      --hub URL            The hub's API (default: PINION_HUB)\n"
    "      --token TOKEN        Your API token (default: REPLICATE_API_TOKEN)\n"
    "      --image IMAGE        The model's image. Required for a folder version (pushed\n"
    "                           from a model folder, it has no image: build one with\n"
    "                           `pinion push IMAGE`); overrides an image version's\n"
    "  -n, --namespace NS       Put the objects in NS (default: kubectl's)\n"
    "      --pinion-image IMAGE The image with pinion, for the director (default\n"
    "                           pinion:" PINION_VERSION ")\n"
    "      --internal-url URL   The hub's internal listener as pods reach it (default\n"
    "                           http://pinion-hub:8081)\n"
    "      --queue URL          The hub's Redis, without a password (default\n"
    "                           redis://pinion-redis:6379/0)\n"
    "      --queue-password-secret NAME\n"
    "                           A Secret whose key `password` is Redis's password (for\n"
    "                           the director and KEDA)\n"
    "      --credential-secret NAME\n"
    "                           A Secret whose key `credential` is a director's\n"
    "                           credential (`pinion hub token create --director`)\n"
    "                           (default pinion-director)\n"
    "      --slots N            Predictions the model server runs at once (default 1)\n"
    "      --prediction-timeout S  Seconds the longest prediction takes: the director's\n"
    "                           --drain-timeout; pods get S + 30 to stop (default 600)\n"
    "      --gpus N             GPUs per pod (default: the deployment's hardware,\n"
    "                           gpu-Nx-... gives N, else 1 when the version needs a GPU)\n"
    "  -o, --output FORMAT      yaml (default: documents separated by ---) or json (one\n"
    "                           List)\n",
    run_deploy};
