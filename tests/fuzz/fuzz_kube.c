/* libFuzzer target for `pinion deploy kubernetes`'s reading of the hub's answers
 * (cli/kube.c): whatever listens at --hub may answer anything. Input: the deployment's
 * answer and the runtime's answer, separated by the first NUL byte (none: the runtime
 * answer is empty); the first byte's low bits also pick --image and --gpus.
 *
 * Invariants: exactly one of manifests and a problem comes back; manifests are three
 * objects (Deployment, NetworkPolicy, ScaledObject) whose names are valid Kubernetes
 * names of at most 63 characters, whose model image is printable without spaces, and
 * that the YAML writer writes; a problem is one line; pn_cli_kube_release gives a model
 * with a '/' and a version, or a problem. */
#include "cli/kube.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/yaml_write.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_one_line(const char *text) {
  if (!text || !*text || strchr(text, '\n'))
    abort();
}

static void check_name(const char *name) {
  size_t length = name ? strlen(name) : 0;
  if (length == 0 || length > 63 || name[0] == '-' || name[length - 1] == '-')
    abort();
  for (size_t i = 0; i < length; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
          name[i] == '-'))
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  if (size < 1)
    return 0;
  const char *bytes = (const char *)data + 1;
  size_t length = size - 1;
  const char *split = memchr(bytes, '\0', length);
  size_t deployment_length = split ? (size_t)(split - bytes) : length;
  const char *runtime = split ? split + 1 : "";
  size_t runtime_length = split ? length - deployment_length - 1 : 0;
  pn_cli_kube_options options = {
      .deployment = "alice/Some.Model_Name",
      .image = data[0] & 1 ? "registry.example/m:1" : NULL,
      .pinion_image = "pinion:0",
      .internal_url = "http://pinion-hub:8081",
      .queue = "redis://pinion-redis:6379/0",
      .credential_secret = "pinion-director",
      .slots = 1,
      .prediction_timeout = 600,
      .gpus = data[0] & 2 ? 1 : -1,
  };
  json_t *manifests = NULL;
  char *problem = NULL;
  int rc = pn_cli_kube_manifests(&options, bytes, deployment_length, runtime, runtime_length,
                                 &manifests, &problem);
  if (rc == 0) {
    if (problem || json_array_size(manifests) != 3)
      abort();
    for (size_t i = 0; i < 3; i++)
      check_name(json_string_value(
          json_object_get(json_object_get(json_array_get(manifests, i), "metadata"), "name")));
    json_t *pod = json_object_get(
        json_object_get(json_object_get(json_array_get(manifests, 0), "spec"), "template"),
        "spec");
    const char *image =
        json_string_value(json_object_get(json_array_get(json_object_get(pod, "containers"), 0),
                                          "image"));
    if (!image || !*image)
      abort();
    for (const char *c = image; *c; c++)
      if (*c <= ' ' || *c > '~')
        abort();
    pn_buf text;
    pn_buf_init(&text, (size_t)16 << 20);
    if (pn_yaml_write_documents(manifests, &text) != 0 || !strstr(text.data, "ScaledObject"))
      abort();
    pn_buf_free(&text);
  } else if (manifests || !problem) {
    abort();
  } else {
    check_one_line(problem);
  }
  json_decref(manifests);
  pn_free(problem);
  char *model = NULL, *version = NULL;
  rc = pn_cli_kube_release(bytes, deployment_length, &model, &version, &problem);
  if (rc == 0 ? (!model || !strchr(model, '/') || !version || problem)
              : (model || version || !problem))
    abort();
  if (rc < 0)
    check_one_line(problem);
  pn_free(model);
  pn_free(version);
  pn_free(problem);
  return 0;
}
