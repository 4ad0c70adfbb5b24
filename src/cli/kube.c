/* Kubernetes manifests for one deployment. See kube.h.
 *
 * One pod per instance: the model's image (its Cog HTTP server on :5000) and `pinion
 * director` beside it, which takes the deployment's predictions from its Redis stream
 * and reports to the hub's internal listener. KEDA scales the pods on the stream's
 * length: the hub deletes an entry once its outcome is stored, so the length is what
 * waits plus what runs, and `streamLength: SLOTS` asks for ⌈length / slots⌉ pods within
 * [min_instances, max_instances] — the rule the hub's /metrics reports as
 * pinion_instances_desired. The manifests are JSON values; the command writes them as
 * YAML (core/yaml_write.c) or JSON. */
#include "cli/kube.h"

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/error.h"
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LENGTH 63
#define TEXT_MAX 256
#define IMAGE_MAX 1024
#define INSTANCES_MAX 1000
#define CREDENTIAL_DIR "/var/run/pinion/director"
#define STREAM_PREFIX "pinion:queue:deployment:"

char *pn_cli_kube_name(const char *deployment) {
  char *name = pn_strfmt("pinion-%s", deployment);
  if (!name)
    return NULL;
  size_t out = 0;
  for (size_t i = 0; name[i]; i++) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      c = '-';
    if (c == '-' && (out == 0 || name[out - 1] == '-'))
      continue; /* no doubled or leading '-' */
    name[out++] = c;
  }
  while (out && name[out - 1] == '-')
    out--;
  name[out] = '\0';
  if (out <= NAME_MAX_LENGTH)
    return name;
  char hash[65];
  if (pn_crypto_sha256_hex(deployment, strlen(deployment), hash) < 0) {
    pn_free(name);
    return NULL;
  }
  out = NAME_MAX_LENGTH - 9;
  while (out && name[out - 1] == '-')
    out--;
  snprintf(name + out, 10, "-%.8s", hash);
  return name;
}

/* --- the hub's answers --------------------------------------------------------------- */

/* Printable ASCII without spaces, 1 to `max` bytes. */
static const char *token_text(const json_t *value, size_t max) {
  const char *text = json_string_value(value);
  size_t length = text ? json_string_length(value) : 0;
  if (length == 0 || length > max)
    return NULL;
  for (size_t i = 0; i < length; i++)
    if (text[i] <= ' ' || text[i] > '~')
      return NULL;
  return text;
}

static int valid_image(const char *image) {
  size_t length = strlen(image);
  for (size_t i = 0; i < length; i++)
    if (image[i] <= ' ' || image[i] > '~')
      return 0;
  return length > 0 && length <= IMAGE_MAX;
}

static json_t *parse_object(const char *text, size_t length) {
  json_t *value = text && length ? json_loadb(text, length, 0, NULL) : NULL;
  if (value && !json_is_object(value)) {
    json_decref(value);
    return NULL;
  }
  return value;
}

static int refuse(char **problem, const char *format, const char *detail) {
  *problem = pn_strfmt(format, detail);
  return *problem ? PN_EINVAL : PN_ENOMEM;
}

int pn_cli_kube_release(const char *deployment, size_t length, char **model, char **version,
                        char **problem) {
  *model = *version = *problem = NULL;
  json_t *object = parse_object(deployment, length);
  json_t *release = json_object_get(object, "current_release");
  const char *model_id = token_text(json_object_get(release, "model"), TEXT_MAX);
  const char *version_id = token_text(json_object_get(release, "version"), TEXT_MAX);
  int rc = 0;
  if (!model_id || !version_id || !strchr(model_id, '/')) {
    rc = refuse(problem,
                "the hub's deployment has no current_release with a model (owner/name) and a "
                "version%s; is --hub a pinion hub?",
                "");
  } else {
    *model = pn_strdup(model_id);
    *version = pn_strdup(version_id);
    rc = *model && *version ? 0 : PN_ENOMEM;
  }
  json_decref(object);
  return rc;
}

/* GPUs the deployment's hardware names: "gpu-2x-nvidia" 2, "gpu-nvidia" 1, else 0. */
static int hardware_gpus(const char *hardware) {
  if (!hardware || strncmp(hardware, "gpu-", 4) != 0)
    return 0;
  char *end = NULL;
  long count = strtol(hardware + 4, &end, 10);
  return end != hardware + 4 && *end == 'x' && count >= 1 && count <= 64 ? (int)count : 1;
}

typedef struct facts {
  const char *owner_name; /* OWNER/NAME */
  const char *version;
  const char *image;
  long min, max;
  int gpus;
} facts;

static int read_facts(const pn_cli_kube_options *options, json_t *deployment, json_t *runtime,
                      facts *out, char **problem) {
  json_t *release = json_object_get(deployment, "current_release");
  json_t *configuration = json_object_get(release, "configuration");
  json_t *min = json_object_get(configuration, "min_instances");
  json_t *max = json_object_get(configuration, "max_instances");
  out->owner_name = options->deployment;
  out->version = token_text(json_object_get(release, "version"), TEXT_MAX);
  if (!out->version || !json_is_integer(min) || !json_is_integer(max) ||
      json_integer_value(min) < 0 || json_integer_value(min) > INSTANCES_MAX ||
      json_integer_value(max) < 0 || json_integer_value(max) > INSTANCES_MAX)
    return refuse(problem,
                  "the hub's answer for the deployment %s lacks current_release.version or "
                  "its configuration's min_instances and max_instances (whole numbers from 0 "
                  "to 1000); is --hub a pinion hub?",
                  options->deployment);
  out->min = json_integer_value(min);
  out->max = json_integer_value(max) < 1 ? 1 : json_integer_value(max); /* as the hub reads it */
  if (out->min > out->max)
    out->min = out->max;
  const char *kind = json_string_value(json_object_get(runtime, "kind"));
  if (!kind || (strcmp(kind, "image") != 0 && strcmp(kind, "folder") != 0))
    return refuse(problem,
                  "the hub did not say how the version of %s runs (GET .../versions/ID/runtime "
                  "gave no kind \"image\" or \"folder\"); is --hub a pinion hub as new as this "
                  "pinion?",
                  options->deployment);
  out->image = options->image;
  if (out->image && !valid_image(out->image))
    return refuse(problem,
                  "--image takes an image reference (printable, no spaces, at most 1024 bytes), "
                  "not \"%s\"",
                  out->image);
  if (!out->image && strcmp(kind, "image") == 0)
    out->image = token_text(json_object_get(runtime, "image"), IMAGE_MAX);
  if (!out->image)
    return refuse(problem,
                  "the deployment %s runs a folder version (pushed with `pinion push` from a "
                  "model folder), which has no image for Kubernetes to pull: build and push one "
                  "(`pinion push IMAGE` in the model's folder, or `pinion build -t IMAGE`), then "
                  "give it with --image IMAGE",
                  options->deployment);
  const char *hardware = json_string_value(json_object_get(configuration, "hardware"));
  out->gpus = options->gpus >= 0 ? options->gpus : hardware_gpus(hardware);
  if (options->gpus < 0 && out->gpus == 0 && json_is_true(json_object_get(runtime, "gpu")))
    out->gpus = 1; /* cog.yaml's build.gpu */
  return 0;
}

/* --- the manifests ------------------------------------------------------------------- */

static json_t *metadata(const pn_cli_kube_options *options, const char *name, const facts *f) {
  json_t *object = json_pack("{s:s}", "name", name);
  if (object && options->namespace)
    json_object_set_new(object, "namespace", json_string(options->namespace));
  if (object) {
    json_object_set_new(object, "labels",
                        json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/name", "pinion-model",
                                  "app.kubernetes.io/instance", name,
                                  "app.kubernetes.io/managed-by", "pinion"));
    json_object_set_new(object, "annotations",
                        json_pack("{s:s, s:s}", "pinion/deployment", f->owner_name,
                                  "pinion/version", f->version));
  }
  return object;
}

static json_t *http_probe(const char *path, int port, int period, int failures) {
  return json_pack("{s:{s:s, s:i}, s:i, s:i}", "httpGet", "path", path, "port", port,
                   "periodSeconds", period, "failureThreshold", failures);
}

static json_t *model_container(const facts *f) {
  json_t *container =
      json_pack("{s:s, s:s, s:[{s:s, s:i}], s:o}", "name", "model", "image", f->image, "ports",
                "name", "http", "containerPort", PN_CLI_KUBE_MODEL_PORT, "readinessProbe",
                http_probe("/health-check", PN_CLI_KUBE_MODEL_PORT, 5, 3));
  if (container && f->gpus > 0)
    json_object_set_new(container, "resources",
                        json_pack("{s:{s:i}, s:{s:i}}", "requests", "nvidia.com/gpu", f->gpus,
                                  "limits", "nvidia.com/gpu", f->gpus));
  return container;
}

static json_t *director_container(const pn_cli_kube_options *options, const facts *f) {
  char slots[16], drain[24], listen[32], model_url[64];
  snprintf(slots, sizeof slots, "%d", options->slots);
  snprintf(drain, sizeof drain, "%ld", options->prediction_timeout);
  snprintf(listen, sizeof listen, "0.0.0.0:%d", PN_CLI_KUBE_DIRECTOR_PORT);
  snprintf(model_url, sizeof model_url, "http://127.0.0.1:%d", PN_CLI_KUBE_MODEL_PORT);
  const char *args[] = {"director",      "--hub",          options->internal_url,
                        "--queue",       options->queue,   "--credential",
                        CREDENTIAL_DIR "/credential",      "--model-url",
                        model_url,       "--deployment",   f->owner_name,
                        "--slots",       slots,            "--drain-timeout",
                        drain,           "--listen",       listen};
  json_t *arguments = json_array();
  for (size_t i = 0; arguments && i < sizeof args / sizeof args[0]; i++)
    json_array_append_new(arguments, json_string(args[i]));
  json_t *container = json_pack("{s:s, s:s, s:o}", "name", "director", "image",
                                options->pinion_image, "args", arguments);
  if (!container)
    return NULL;
  json_object_set_new(container, "ports",
                      json_pack("[{s:s, s:i}]", "name", "director", "containerPort",
                                PN_CLI_KUBE_DIRECTOR_PORT));
  /* /health is 503 until the model is READY (up to the director's --boot-timeout, 600 s)
   * and while draining: the startup probe waits that long before liveness counts. */
  json_object_set_new(container, "startupProbe",
                      http_probe("/health", PN_CLI_KUBE_DIRECTOR_PORT, 10, 60));
  json_object_set_new(container, "livenessProbe",
                      http_probe("/health", PN_CLI_KUBE_DIRECTOR_PORT, 10, 3));
  json_object_set_new(container, "volumeMounts",
                      json_pack("[{s:s, s:s, s:b}]", "name", "director-credential", "mountPath",
                                CREDENTIAL_DIR, "readOnly", 1));
  if (options->queue_password_secret)
    json_object_set_new(container, "env",
                        json_pack("[{s:s, s:{s:{s:s, s:s}}}]", "name", "PINION_QUEUE_PASSWORD",
                                  "valueFrom", "secretKeyRef", "name",
                                  options->queue_password_secret, "key", "password"));
  return container;
}

static json_t *deployment_manifest(const pn_cli_kube_options *options, const char *name,
                                   const facts *f) {
  json_t *labels = json_pack("{s:s, s:s}", "app.kubernetes.io/name", "pinion-model",
                             "app.kubernetes.io/instance", name);
  /* The credential's volume is mounted in the director's container only; readable by any
   * user there, whatever user the pinion image runs as. */
  json_t *pod = json_pack(
      "{s:i, s:[o, o], s:[{s:s, s:{s:s, s:i}}]}", "terminationGracePeriodSeconds",
      (int)(options->prediction_timeout + PN_CLI_KUBE_GRACE_SLACK), "containers",
      model_container(f), director_container(options, f), "volumes", "name",
      "director-credential", "secret", "secretName", options->credential_secret, "defaultMode",
      0444);
  /* No `replicas`: KEDA's autoscaler owns the count, and applying again must not reset it. */
  return json_pack("{s:s, s:s, s:o, s:{s:{s:{s:s}}, s:{s:{s:o}, s:o}}}", "apiVersion", "apps/v1",
                   "kind", "Deployment", "metadata", metadata(options, name, f), "spec",
                   "selector", "matchLabels", "app.kubernetes.io/instance", name, "template",
                   "metadata", "labels", labels, "spec", pod);
}

/* Nothing needs to reach the pods: the director pulls from Redis and reports to the hub.
 * Kubelet's probes come from the node, which network policies let through; the
 * director's /upload and the model's port stay closed to the rest of the cluster. */
static json_t *network_policy(const pn_cli_kube_options *options, const char *name,
                              const facts *f) {
  return json_pack("{s:s, s:s, s:o, s:{s:{s:{s:s}}, s:[s], s:[]}}", "apiVersion",
                   "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
                   metadata(options, name, f), "spec", "podSelector", "matchLabels",
                   "app.kubernetes.io/instance", name, "policyTypes", "Ingress", "ingress");
}

static json_t *scaled_object(const pn_cli_kube_options *options, const char *name,
                             const facts *f, const pn_queue_redis_url *redis) {
  char address[300], database[16], slots[16];
  snprintf(address, sizeof address, strchr(redis->host, ':') ? "[%s]:%d" : "%s:%d", redis->host,
           redis->port);
  snprintf(database, sizeof database, "%d", redis->db);
  snprintf(slots, sizeof slots, "%d", options->slots);
  char *stream = pn_strfmt(STREAM_PREFIX "%s", f->owner_name);
  /* No consumerGroup: with one, KEDA counts only the group's pending entries (taken,
   * not waiting), which stay 0 while no pod runs, so it would never scale up from zero. */
  json_t *trigger_metadata = json_pack("{s:s, s:s, s:s?, s:s}", "address", address,
                                       "databaseIndex", database, "stream", stream,
                                       "streamLength", slots);
  pn_free(stream);
  if (trigger_metadata && options->queue_password_secret)
    json_object_set_new(trigger_metadata, "passwordFromEnv", json_string("PINION_QUEUE_PASSWORD"));
  return json_pack("{s:s, s:s, s:o, s:{s:{s:s, s:s, s:s, s:s}, s:I, s:I, s:i, s:i, "
                   "s:[{s:s, s:o}]}}",
                   "apiVersion", "keda.sh/v1alpha1", "kind", "ScaledObject", "metadata",
                   metadata(options, name, f), "spec", "scaleTargetRef", "apiVersion", "apps/v1",
                   "kind", "Deployment", "name", name, "envSourceContainerName", "director",
                   "minReplicaCount", (json_int_t)f->min, "maxReplicaCount", (json_int_t)f->max,
                   "pollingInterval", 10, "cooldownPeriod", 300, "triggers", "type",
                   "redis-streams", "metadata", trigger_metadata);
}

int pn_cli_kube_manifests(const pn_cli_kube_options *options, const char *deployment,
                          size_t deployment_length, const char *runtime, size_t runtime_length,
                          json_t **manifests, char **problem) {
  *manifests = NULL;
  *problem = NULL;
  pn_queue_redis_url redis;
  const char *url_problem = NULL;
  if (pn_queue_parse_redis_url(options->queue, &redis, &url_problem) < 0)
    return refuse(problem, "--queue takes redis://HOST[:PORT][/DB]: %s", url_problem);
  if (redis.password[0])
    return refuse(problem,
                  "--queue has a password, which would be printed into the manifests: give "
                  "the URL without it and --queue-password-secret NAME (a Secret whose key "
                  "`password` holds it)%s",
                  "");
  json_t *deployment_object = parse_object(deployment, deployment_length);
  json_t *runtime_object = parse_object(runtime, runtime_length);
  facts f = {0};
  int rc = read_facts(options, deployment_object, runtime_object, &f, problem);
  char *name = rc == 0 ? pn_cli_kube_name(options->deployment) : NULL;
  if (rc == 0 && !name)
    rc = PN_ENOMEM;
  if (rc == 0) {
    *manifests = json_pack("[o, o, o]", deployment_manifest(options, name, &f),
                           network_policy(options, name, &f),
                           scaled_object(options, name, &f, &redis));
    rc = *manifests ? 0 : PN_ENOMEM;
  }
  pn_free(name);
  json_decref(deployment_object);
  json_decref(runtime_object);
  return rc;
}
