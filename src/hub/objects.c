/* Rows to public objects. See objects.h. Rows keep internal fields (owners, stream
 * tokens, bundle paths); only what Replicate's objects carry leaves through here, and
 * fields the clients require are always present (null rather than absent). */
#include "hub/objects.h"

#include "core/alloc.h"

#include <string.h>

static json_t *field(const json_t *row, const char *name) {
  json_t *value = json_object_get(row, name);
  return value ? json_incref(value) : json_null();
}

static void copy_fields(json_t *object, const json_t *row, const char *const *names) {
  for (size_t i = 0; names[i]; i++)
    json_object_set_new(object, names[i], field(row, names[i]));
}

json_t *pn_hub_account_object(const json_t *account) {
  static const char *const names[] = {"type", "username", "name", "github_url", "avatar_url", NULL};
  json_t *object = json_object();
  copy_fields(object, account, names);
  return object;
}

json_t *pn_hub_model_object(pn_hub *hub, const json_t *model) {
  json_t *object = json_object();
  const char *id = json_string_value(json_object_get(model, "id"));
  char *url = pn_hub_url(hub, "/%s", id ? id : "");
  json_object_set_new(object, "url", json_string(url ? url : ""));
  pn_free(url);
  static const char *const names[] = {
      "owner",       "name",        "description", "visibility",      "github_url", "paper_url",
      "license_url", "weights_url", "run_count",   "cover_image_url", NULL};
  copy_fields(object, model, names);
  json_t *example = NULL;
  const char *example_id = json_string_value(json_object_get(model, "default_example_id"));
  if (example_id && pn_store_get(hub->store, PN_STORE_PREDICTIONS, example_id, &example) == 0) {
    json_object_set_new(object, "default_example", pn_hub_prediction_object(hub, example));
    json_decref(example);
  } else {
    json_object_set_new(object, "default_example", json_null());
  }
  json_t *version = NULL;
  const char *latest = json_string_value(json_object_get(model, "latest_version_id"));
  char *key = latest ? pn_strfmt("%s:%s", id, latest) : NULL;
  if (key && pn_store_get(hub->store, PN_STORE_VERSIONS, key, &version) == 0) {
    json_object_set_new(object, "latest_version", pn_hub_version_object(version));
    json_decref(version);
  } else {
    json_object_set_new(object, "latest_version", json_null());
  }
  pn_free(key);
  json_object_set_new(object, "is_official", json_false());
  json_object_set_new(object, "created_at", field(model, "created_at"));
  return object;
}

json_t *pn_hub_version_object(const json_t *version) {
  static const char *const names[] = {"id", "created_at", "cog_version", "openapi_schema", NULL};
  json_t *object = json_object();
  copy_fields(object, version, names);
  return object;
}

json_t *pn_hub_prediction_object(pn_hub *hub, const json_t *prediction) {
  int training = json_is_string(json_object_get(prediction, "kind")) &&
                 strcmp(json_string_value(json_object_get(prediction, "kind")), "training") == 0;
  static const char *const names[] = {"id",
                                      "model",
                                      "version",
                                      "input",
                                      "output",
                                      "logs",
                                      "error",
                                      "status",
                                      "created_at",
                                      "started_at",
                                      "completed_at",
                                      "data_removed",
                                      "source",
                                      "webhook",
                                      "webhook_events_filter",
                                      "metrics",
                                      NULL};
  json_t *object = json_object();
  copy_fields(object, prediction, names);
  if (json_object_get(prediction, "deployment"))
    json_object_set_new(object, "deployment", field(prediction, "deployment"));
  if (training)
    json_object_set_new(object, "destination", field(prediction, "destination"));
  if (json_object_get(prediction, "deadline"))
    json_object_set_new(object, "deadline", field(prediction, "deadline"));
  const char *id = json_string_value(json_object_get(prediction, "id"));
  const char *collection = training ? "trainings" : "predictions";
  char *get = pn_hub_url(hub, "/v1/%s/%s", collection, id);
  char *cancel = pn_hub_url(hub, "/v1/%s/%s/cancel", collection, id);
  char *web = pn_hub_url(hub, "/p/%s", id);
  json_t *urls = json_pack("{s:s?, s:s?, s:s?}", "get", get, "cancel", cancel, "web", web);
  pn_free(get);
  pn_free(cancel);
  pn_free(web);
  const char *token = json_string_value(json_object_get(prediction, "stream_token"));
  const char *stream = json_string_value(json_object_get(prediction, "stream"));
  if (token && stream) {
    char *url =
        pn_hub_url(hub, "/v1/%s/%s", strcmp(stream, "file") == 0 ? "files" : "streams", token);
    json_object_set_new(urls, "stream", json_string(url));
    pn_free(url);
  }
  json_object_set_new(object, "urls", urls);
  return object;
}

json_t *pn_hub_file_object(pn_hub *hub, const json_t *file) {
  static const char *const names[] = {"id", "name", "content_type", "size", NULL};
  json_t *object = json_object();
  copy_fields(object, file, names);
  json_object_set_new(object, "etag", field(file, "md5"));
  json_object_set_new(object, "checksums",
                      json_pack("{s:O, s:O}", "sha256", json_object_get(file, "sha256"), "md5",
                                json_object_get(file, "md5")));
  json_t *metadata = json_object_get(file, "metadata");
  json_object_set_new(object, "metadata", metadata ? json_incref(metadata) : json_object());
  json_object_set_new(object, "created_at", field(file, "created_at"));
  json_object_set_new(object, "expires_at", field(file, "expires_at"));
  char *get = pn_hub_url(hub, "/v1/files/%s", json_string_value(json_object_get(file, "id")));
  json_object_set_new(object, "urls", json_pack("{s:s?}", "get", get));
  pn_free(get);
  return object;
}

json_t *pn_hub_deployment_object(pn_hub *hub, const json_t *deployment) {
  json_t *release = json_deep_copy(json_object_get(deployment, "current_release"));
  const char *creator = json_string_value(json_object_get(release, "created_by"));
  json_t *account = NULL;
  if (creator && pn_store_get(hub->store, PN_STORE_ACCOUNTS, creator, &account) == 0) {
    json_object_set_new(release, "created_by", pn_hub_account_object(account));
    json_decref(account);
  }
  return json_pack("{s:O, s:O, s:o}", "owner", json_object_get(deployment, "owner"), "name",
                   json_object_get(deployment, "name"), "current_release",
                   release ? release : json_null());
}
