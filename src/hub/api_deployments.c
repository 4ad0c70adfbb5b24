/* Deployments: a name for a model version with its own capacity (min/max instances).
 * Each accepted change is a new release (`number` + 1); the scheduler's target for a
 * deployment is `deployment:owner/name` and follows its bounds. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/error.h"
#include "hub/objects.h"

#include <string.h>

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

static json_t *render_deployment(pn_hub_request *request, const json_t *row) {
  return pn_hub_deployment_object(request->hub, row);
}

static int save(pn_hub *hub, const json_t *deployment, int insert) {
  pn_store_keys keys = {.id = text_of(deployment, "id"),
                        .account = text_of(deployment, "owner"),
                        .created_at = text_of(deployment, "created_at")};
  return insert ? pn_store_insert(hub->store, PN_STORE_DEPLOYMENTS, &keys, deployment)
                : pn_store_update(hub->store, PN_STORE_DEPLOYMENTS, &keys, deployment);
}

/* Tells the scheduler the deployment's bounds and what it runs. */
static void configure(pn_hub *hub, const json_t *deployment) {
  json_t *release = json_object_get(deployment, "current_release");
  json_t *configuration = json_object_get(release, "configuration");
  char *key = pn_strfmt("%s:%s", text_of(release, "model"), text_of(release, "version"));
  json_t *version = NULL;
  if (key && pn_store_get(hub->store, PN_STORE_VERSIONS, key, &version) == 0) {
    const char *kind = text_of(version, "kind");
    int image = kind && strcmp(kind, "image") == 0;
    char *target_key = pn_strfmt("deployment:%s", text_of(deployment, "id"));
    int max = (int)json_integer_value(json_object_get(configuration, "max_instances"));
    pn_hub_scheduler_target target = {
        .key = target_key,
        .bundle_dir = image ? NULL : text_of(version, "source"),
        .image = image ? text_of(version, "source") : NULL,
        .mode = "predict",
        .min_instances = (int)json_integer_value(json_object_get(configuration, "min_instances")),
        .max_instances = max < 1 ? 1 : max,
        .slots = 1,
    };
    pn_hub_scheduler_configure(hub->scheduler, &target);
    pn_free(target_key);
  }
  json_decref(version);
  pn_free(key);
}

/* Checks the fields of a create or update; answers 4xx and returns -1 when wrong. */
static int check(pn_hub_request *request, const char *model, const json_t *body) {
  json_t *value = json_object_get(body, "min_instances");
  if (value &&
      (!json_is_integer(value) || json_integer_value(value) < 0 || json_integer_value(value) > 5)) {
    pn_hub_problem(request, 400, NULL, "`min_instances` must be an integer from 0 to 5.");
    return -1;
  }
  value = json_object_get(body, "max_instances");
  if (value && (!json_is_integer(value) || json_integer_value(value) < 0 ||
                json_integer_value(value) > 20)) {
    pn_hub_problem(request, 400, NULL, "`max_instances` must be an integer from 0 to 20.");
    return -1;
  }
  value = json_object_get(body, "hardware");
  if (value && !json_is_string(value)) {
    pn_hub_problem(request, 400, NULL, "`hardware` must be a SKU from /v1/hardware.");
    return -1;
  }
  const char *version = text_of(body, "version");
  if (version) {
    const char *slash = strchr(model, '/');
    char *owner = slash ? pn_strndup(model, (size_t)(slash - model)) : NULL;
    json_t *model_row = owner ? pn_hub_model_visible(request, owner, slash + 1) : NULL;
    pn_free(owner);
    if (!model_row) {
      if (!slash)
        pn_hub_problem(request, 400, NULL, "`model` must be owner/name.");
      return -1;
    }
    json_decref(model_row);
    char *key = pn_strfmt("%s:%s", model, version);
    json_t *version_row = NULL;
    int rc =
        key ? pn_store_get(request->hub->store, PN_STORE_VERSIONS, key, &version_row) : PN_ENOMEM;
    pn_free(key);
    json_decref(version_row);
    if (rc < 0) {
      pn_hub_problem(request, 404, NULL, "The model %s has no version %s.", model, version);
      return -1;
    }
  } else if (json_object_get(body, "version")) {
    pn_hub_problem(request, 400, NULL, "`version` must be a version id string.");
    return -1;
  }
  return 0;
}

void pn_hub_deployments_list(pn_hub_request *request) {
  pn_store_query query = {.account = request->account};
  pn_hub_reply_page(request, PN_STORE_DEPLOYMENTS, &query, render_deployment);
}

void pn_hub_deployments_create(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *name = text_of(body, "name"), *model = text_of(body, "model");
  const char *version = text_of(body, "version");
  if (!name || !model || !version || !json_is_integer(json_object_get(body, "min_instances")) ||
      !json_is_integer(json_object_get(body, "max_instances"))) {
    pn_hub_problem(request, 400, NULL,
                   "A deployment needs `name`, `model` (owner/name), `version`, `hardware`, "
                   "`min_instances` and `max_instances`.");
  } else if (check(request, model, body) == 0) {
    char now[40];
    pn_hub_now(now);
    char *id = pn_strfmt("%s/%s", request->account, name);
    const char *hardware = text_of(body, "hardware");
    json_t *deployment =
        json_pack("{s:s?, s:s, s:s, s:s, s:{s:i, s:s, s:s, s:s, s:s, s:{s:s, s:O, s:O}}}", "id", id,
                  "owner", request->account, "name", name, "created_at", now, "current_release",
                  "number", 1, "model", model, "version", version, "created_at", now, "created_by",
                  request->account, "configuration", "hardware", hardware ? hardware : "cpu",
                  "min_instances", json_object_get(body, "min_instances"), "max_instances",
                  json_object_get(body, "max_instances"));
    int rc = deployment ? save(request->hub, deployment, 1) : PN_ENOMEM;
    if (rc == PN_EEXISTS) {
      pn_hub_problem(request, 409, NULL,
                     "You already have a deployment named %s. Change it with PATCH "
                     "/v1/deployments/%s.",
                     name, id);
    } else if (rc < 0) {
      pn_hub_store_failed(request, rc, "creating the deployment");
    } else {
      configure(request->hub, deployment);
      pn_hub_reply(request, 200, pn_hub_deployment_object(request->hub, deployment));
    }
    json_decref(deployment);
    pn_free(id);
  }
  json_decref(body);
}

static json_t *own_deployment(pn_hub_request *request) {
  char *id = pn_strfmt("%s/%s", request->params[0], request->params[1]);
  json_t *deployment = NULL;
  if (id && pn_store_get(request->hub->store, PN_STORE_DEPLOYMENTS, id, &deployment) == 0 &&
      strcmp(text_of(deployment, "owner"), request->account) == 0) {
    pn_free(id);
    return deployment;
  }
  json_decref(deployment);
  pn_hub_problem(request, 404, NULL,
                 "There is no deployment %s in your account. List yours at /v1/deployments.",
                 id ? id : "");
  pn_free(id);
  return NULL;
}

void pn_hub_deployment_get(pn_hub_request *request) {
  json_t *deployment = own_deployment(request);
  if (!deployment)
    return;
  pn_hub_reply(request, 200, pn_hub_deployment_object(request->hub, deployment));
  json_decref(deployment);
}

void pn_hub_deployment_update(pn_hub_request *request) {
  json_t *deployment = own_deployment(request);
  if (!deployment)
    return;
  json_t *body = pn_hub_body_object(request);
  json_t *release = json_object_get(deployment, "current_release");
  static const char *const fields[] = {"version", "hardware", "min_instances", "max_instances",
                                       NULL};
  int changes = 0;
  for (size_t i = 0; body && fields[i]; i++)
    changes += json_object_get(body, fields[i]) != NULL;
  if (!body) {
  } else if (changes == 0) {
    pn_hub_problem(request, 400, NULL,
                   "Send at least one of `version`, `hardware`, `min_instances` and "
                   "`max_instances` to change.");
  } else if (check(request, text_of(release, "model"), body) == 0) {
    char now[40];
    json_t *next = json_deep_copy(release);
    json_t *configuration = json_object_get(next, "configuration");
    if (json_object_get(body, "version"))
      json_object_set(next, "version", json_object_get(body, "version"));
    for (size_t i = 1; fields[i]; i++)
      if (json_object_get(body, fields[i]))
        json_object_set(configuration, fields[i], json_object_get(body, fields[i]));
    json_object_set_new(next, "number",
                        json_integer(json_integer_value(json_object_get(release, "number")) + 1));
    json_object_set_new(next, "created_at", json_string(pn_hub_now(now)));
    json_object_set_new(next, "created_by", json_string(request->account));
    json_object_set_new(deployment, "current_release", next);
    int rc = save(request->hub, deployment, 0);
    if (rc < 0) {
      pn_hub_store_failed(request, rc, "updating the deployment");
    } else {
      configure(request->hub, deployment);
      pn_hub_reply(request, 200, pn_hub_deployment_object(request->hub, deployment));
    }
  }
  json_decref(body);
  json_decref(deployment);
}

void pn_hub_deployment_delete(pn_hub_request *request) {
  json_t *deployment = own_deployment(request);
  if (!deployment)
    return;
  char *key = pn_strfmt("deployment:%s", text_of(deployment, "id"));
  pn_hub_scheduler_stats stats = pn_hub_scheduler_target_stats(request->hub->scheduler, key);
  pn_free(key);
  if (stats.busy || stats.queued) {
    pn_hub_problem(request, 409, NULL,
                   "The deployment %s is running predictions. Wait until they finish, then "
                   "delete it.",
                   text_of(deployment, "id"));
  } else {
    int rc = pn_store_delete(request->hub->store, PN_STORE_DEPLOYMENTS, text_of(deployment, "id"));
    if (rc < 0) {
      pn_hub_store_failed(request, rc, "deleting the deployment");
    } else {
      char *target_key = pn_strfmt("deployment:%s", text_of(deployment, "id"));
      pn_hub_scheduler_target target = {
          .key = target_key, .mode = "predict", .min_instances = 0, .max_instances = 1, .slots = 1};
      pn_hub_scheduler_configure(request->hub->scheduler, &target);
      pn_free(target_key);
      pn_hub_reply_empty(request, 204);
    }
  }
  json_decref(deployment);
}
