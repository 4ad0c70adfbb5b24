/* Models and their versions: list, search, create, read, update, delete, readme and
 * examples; versions list/read/delete and publishing (`pinion push`).
 *
 * Publishing is pinion's addition to Replicate's API: `POST .../versions` with
 * `Content-Type: application/x-tar` carries a model folder (with its generated
 * `.cog/openapi_schema.json`); the version id is the sha256 of those bytes and the
 * folder is unpacked read-only under DATA/bundles/<id>/. With a JSON body
 * {"image", "openapi_schema", "digest"?} it records an image version instead.
 * Pushing creates the model when it does not exist, private unless the request says
 * `?visibility=public`. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/pool.h"
#include "core/tar.h"
#include "core/version.h"
#include "hub/objects.h"
#include "hub/readme_images.h"
#include "web/markdown.h"
#include "web/web.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

int pn_hub_model_save(pn_hub *hub, const json_t *model, int insert) {
  const char *visibility = text_of(model, "visibility");
  pn_store_keys keys = {.id = text_of(model, "id"),
                        .account = text_of(model, "owner"),
                        .is_public = visibility && strcmp(visibility, "public") == 0,
                        .created_at = text_of(model, "created_at")};
  return insert ? pn_store_insert(hub->store, PN_STORE_MODELS, &keys, model)
                : pn_store_update(hub->store, PN_STORE_MODELS, &keys, model);
}

static int visible(const pn_hub_request *request, const json_t *model) {
  const char *visibility = text_of(model, "visibility");
  return (visibility && strcmp(visibility, "public") == 0) ||
         (request->account && strcmp(request->account, text_of(model, "owner")) == 0);
}

json_t *pn_hub_model_visible(pn_hub_request *request, const char *owner, const char *name) {
  char *id = pn_strfmt("%s/%s", owner, name);
  json_t *model = NULL;
  int rc = id ? pn_store_get(request->hub->store, PN_STORE_MODELS, id, &model) : PN_ENOMEM;
  pn_free(id);
  if (rc == 0 && visible(request, model))
    return model;
  json_decref(model);
  if (rc < 0 && rc != PN_ENOENT)
    pn_hub_store_failed(request, rc, "reading the model");
  else
    pn_hub_problem(request, 404, NULL,
                   "The model %s/%s does not exist, or it is private to another account. Check "
                   "the owner and name.",
                   owner, name);
  return NULL;
}

/* The model when the caller owns it; otherwise answers (404 or 403) and NULL. */
static json_t *model_owned(pn_hub_request *request) {
  json_t *model = pn_hub_model_visible(request, request->params[0], request->params[1]);
  if (model && strcmp(text_of(model, "owner"), request->account) != 0) {
    pn_hub_problem(request, 403, NULL,
                   "The model %s/%s belongs to another account; only its owner may change it.",
                   request->params[0], request->params[1]);
    json_decref(model);
    return NULL;
  }
  return model;
}

static json_t *render_model(pn_hub_request *request, const json_t *row) {
  return pn_hub_model_object(request->hub, row);
}

static json_t *render_version(pn_hub_request *request, const json_t *row) {
  return pn_hub_version_object(row);
}

void pn_hub_models_list(pn_hub_request *request) {
  const char *direction = pn_hub_query(request, "sort_direction");
  pn_store_query query = {.visible_to = request->account,
                          .ascending = direction && strcmp(direction, "asc") == 0};
  pn_hub_reply_page(request, PN_STORE_MODELS, &query, render_model);
}

void pn_hub_models_search(pn_hub_request *request) {
  char *text = pn_strndup((const char *)request->body, request->body_length);
  if (!text) {
    pn_hub_problem(request, 500, NULL, "The hub ran out of memory.");
    return;
  }
  /* JS JSON-encodes the query ("llama" with its quotes); PY sends it bare. */
  json_t *decoded = json_loads(text, JSON_DECODE_ANY, NULL);
  const char *search = json_is_string(decoded) ? json_string_value(decoded) : text;
  while (*search == ' ' || *search == '\n')
    search++;
  if (!*search) {
    json_decref(decoded);
    pn_free(text);
    pn_hub_problem(request, 400, NULL,
                   "The search needs a query: send the text as the body of QUERY /v1/models.");
    return;
  }
  pn_store_query query = {.visible_to = request->account, .search = search};
  pn_hub_reply_page(request, PN_STORE_MODELS, &query, render_model);
  json_decref(decoded);
  pn_free(text);
}

static int valid_name(const char *name) {
  if (!name || !*name || strlen(name) > 100 || !isalnum((unsigned char)name[0]))
    return 0;
  for (const char *at = name; *at; at++)
    if (!(islower((unsigned char)*at) || isdigit((unsigned char)*at) || *at == '-' || *at == '_' ||
          *at == '.'))
      return 0;
  return 1;
}

static const char *const optional_fields[] = {"description", "github_url",  "paper_url",
                                              "license_url", "weights_url", "cover_image_url",
                                              "readme",      NULL};

/* A `readme` over PN_MARKDOWN_MAX gets a 422 (the pages render it on every view).
 * Returns 1 when it answered. */
static int readme_too_long(pn_hub_request *request, const json_t *body) {
  const json_t *readme = json_object_get(body, "readme");
  if (!json_is_string(readme) || json_string_length(readme) <= PN_MARKDOWN_MAX)
    return 0;
  pn_hub_problem(request, 422, NULL,
                 "`readme` is %zu bytes, over the %zu KiB a README may have; shorten it.",
                 json_string_length(readme), PN_MARKDOWN_MAX >> 10);
  return 1;
}

static json_t *new_model(const char *owner, const char *name, const char *visibility,
                         const char *hardware) {
  char now[40];
  pn_hub_now(now);
  char *id = pn_strfmt("%s/%s", owner, name);
  json_t *model =
      json_pack("{s:s?, s:s, s:s, s:s, s:s, s:i, s:s, s:n, s:n}", "id", id, "owner", owner, "name",
                name, "visibility", visibility, "hardware", hardware, "run_count", 0, "created_at",
                now, "latest_version_id", "default_example_id");
  for (size_t i = 0; optional_fields[i]; i++)
    json_object_set_new(model, optional_fields[i], json_null());
  pn_free(id);
  return model;
}

void pn_hub_models_create(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *owner = text_of(body, "owner"), *name = text_of(body, "name");
  const char *visibility = text_of(body, "visibility");
  const char *hardware = text_of(body, "hardware");
  if (!owner || !name || !visibility) {
    pn_hub_problem(request, 400, NULL,
                   "Creating a model needs `owner`, `name` and `visibility` (\"public\" or "
                   "\"private\") in the body.");
  } else if (strcmp(owner, request->account) != 0) {
    pn_hub_problem(request, 403, NULL,
                   "You can only create models under your own account \"%s\", not \"%s\".",
                   request->account, owner);
  } else if (!valid_name(name)) {
    pn_hub_problem(request, 400, NULL,
                   "The model name \"%s\" is not valid: use lowercase letters, digits, dashes, "
                   "underscores and dots, starting with a letter or digit.",
                   name);
  } else if (strcmp(visibility, "public") != 0 && strcmp(visibility, "private") != 0) {
    pn_hub_problem(request, 400, NULL, "`visibility` must be \"public\" or \"private\".");
  } else if (readme_too_long(request, body)) {
  } else {
    json_t *model = new_model(owner, name, visibility, hardware ? hardware : "cpu");
    for (size_t i = 0; optional_fields[i]; i++) {
      json_t *value = json_object_get(body, optional_fields[i]);
      if (json_is_string(value))
        json_object_set(model, optional_fields[i], value);
    }
    int rc = pn_hub_model_save(request->hub, model, 1);
    if (rc == PN_EEXISTS)
      pn_hub_problem(request, 409, NULL,
                     "A model named %s/%s already exists. Choose another name, or update it "
                     "with PATCH.",
                     owner, name);
    else if (rc < 0)
      pn_hub_store_failed(request, rc, "creating the model");
    else
      pn_hub_reply(request, 201, pn_hub_model_object(request->hub, model));
    json_decref(model);
  }
  json_decref(body);
}

void pn_hub_model_get(pn_hub_request *request) {
  json_t *model = pn_hub_model_visible(request, request->params[0], request->params[1]);
  if (!model)
    return;
  pn_hub_reply(request, 200, pn_hub_model_object(request->hub, model));
  json_decref(model);
}

/* Sets the model's default example from `value` (a prediction id, or null for none);
 * 0, or -1 after answering 422 (not one of this model's succeeded predictions). */
static int set_default_example(pn_hub_request *request, json_t *model, const json_t *value) {
  if (json_is_null(value)) {
    json_object_set_new(model, "default_example_id", json_null());
    return 0;
  }
  const char *id = json_string_value(value);
  json_t *prediction = NULL;
  int found = id && pn_store_get(request->hub->store, PN_STORE_PREDICTIONS, id, &prediction) == 0;
  const char *model_of = found ? text_of(prediction, "model") : NULL;
  const char *status = found ? text_of(prediction, "status") : NULL;
  const char *kind = found ? text_of(prediction, "kind") : NULL;
  int usable = model_of && strcmp(model_of, text_of(model, "id")) == 0 && status &&
               strcmp(status, "succeeded") == 0 && kind && strcmp(kind, "prediction") == 0;
  if (usable)
    json_object_set_new(model, "default_example_id", json_string(id));
  else if (!found)
    pn_hub_problem(request, 422, NULL,
                   "`default_example` must be the id of a succeeded prediction of %s, or null; "
                   "there is no prediction %s.",
                   text_of(model, "id"), id ? id : "with that value (it is not a string)");
  else
    pn_hub_problem(request, 422, NULL,
                   "`default_example` must be the id of a succeeded prediction of %s, or null; "
                   "%s is a %s %s of %s.",
                   text_of(model, "id"), id, status ? status : "", kind ? kind : "prediction",
                   model_of ? model_of : "another model");
  json_decref(prediction);
  return usable ? 0 : -1;
}

void pn_hub_model_update(pn_hub_request *request) {
  json_t *model = model_owned(request);
  if (!model)
    return;
  json_t *body = pn_hub_body_object(request);
  if (!body) {
    json_decref(model);
    return;
  }
  json_t *example = json_object_get(body, "default_example");
  if (readme_too_long(request, body) ||
      (example && set_default_example(request, model, example) < 0)) {
    json_decref(body);
    json_decref(model);
    return;
  }
  const char *key;
  json_t *value;
  json_object_foreach(body, key, value) {
    int known = 0;
    for (size_t i = 0; optional_fields[i]; i++)
      known |= strcmp(key, optional_fields[i]) == 0;
    if (known && (json_is_string(value) || json_is_null(value)))
      json_object_set(model, key, value);
  }
  int rc = pn_hub_model_save(request->hub, model, 0);
  if (rc < 0)
    pn_hub_store_failed(request, rc, "updating the model");
  else
    pn_hub_reply(request, 200, pn_hub_model_object(request->hub, model));
  json_decref(body);
  json_decref(model);
}

void pn_hub_model_delete(pn_hub_request *request) {
  json_t *model = model_owned(request);
  if (!model)
    return;
  if (!json_is_null(json_object_get(model, "latest_version_id"))) {
    pn_hub_problem(request, 409, NULL,
                   "The model %s still has versions. Delete them first "
                   "(DELETE /v1/models/%s/versions/{id}).",
                   text_of(model, "id"), text_of(model, "id"));
  } else {
    int rc = pn_store_delete(request->hub->store, PN_STORE_MODELS, text_of(model, "id"));
    if (rc < 0)
      pn_hub_store_failed(request, rc, "deleting the model");
    else
      pn_hub_reply_empty(request, 204);
  }
  json_decref(model);
}

/* Where the README's relative images load from (readme_images.h): the model's latest
 * version when it is a pushed folder, since `pinion push` publishes the README with it;
 * NULL otherwise (an image version, none, or the store failed: the images then show as
 * their alt text). */
static char *readme_image_base(pn_hub_request *request, const json_t *model) {
  const char *latest = text_of(model, "latest_version_id");
  if (!latest)
    return NULL;
  char *key = pn_strfmt("%s:%s", text_of(model, "id"), latest);
  json_t *version = NULL;
  int rc = key ? pn_store_get(request->hub->store, PN_STORE_VERSIONS, key, &version) : PN_ENOMEM;
  pn_free(key);
  const char *kind = rc == 0 ? text_of(version, "kind") : NULL;
  char *base = kind && strcmp(kind, "bundle") == 0
                   ? pn_hub_readme_image_base(text_of(model, "owner"), text_of(model, "name"),
                                              latest)
                   : NULL;
  json_decref(version);
  return base;
}

/* The README as an HTML fragment for the model page (Accept: text/html): cmark's safe
 * mode, so nothing in it runs (web/markdown.h); the fragment is also sandboxed should a
 * browser open it as a page. */
static void readme_html(pn_hub_request *request, const json_t *model) {
  const char *readme = text_of(model, "readme");
  const char *why = NULL;
  char *html = NULL;
  char *image_base = readme_image_base(request, model);
  int rc = pn_markdown_to_html(readme, strlen(readme), image_base, &html, &why);
  pn_free(image_base);
  if (rc == PN_EUNSUPPORTED) {
    pn_hub_problem(request, 501, NULL, "The README cannot be shown as HTML on this hub: %s.", why);
  } else if (rc == PN_ETOOBIG) {
    pn_hub_problem(request, 413, NULL,
                   "The README is over %zu KiB, too long to render; shorten it with PATCH.",
                   PN_MARKDOWN_MAX >> 10);
  } else if (rc < 0) {
    pn_hub_problem(request, 500, NULL, "Rendering the README failed: %s.", pn_strerror(rc));
  } else {
    pn_hub_header(request, "Content-Security-Policy", "sandbox; default-src 'none'");
    pn_hub_reply_bytes(request, 200, "text/html; charset=utf-8", html, strlen(html));
  }
  pn_free(html);
}

void pn_hub_model_readme(pn_hub_request *request) {
  json_t *model = pn_hub_model_visible(request, request->params[0], request->params[1]);
  if (!model)
    return;
  const char *readme = text_of(model, "readme");
  if (!readme || !*readme)
    pn_hub_problem(request, 404, NULL,
                   "The model %s has no README. Set one with PATCH and a `readme` field.",
                   text_of(model, "id"));
  else {
    pn_hub_header(request, "Vary", "Accept");
    if (pn_web_prefers_html(pn_hub_request_header(request, "Accept")))
      readme_html(request, model);
    else
      pn_hub_reply_bytes(request, 200, "text/plain; charset=utf-8", readme, strlen(readme));
  }
  json_decref(model);
}

void pn_hub_model_examples(pn_hub_request *request) {
  json_t *model = pn_hub_model_visible(request, request->params[0], request->params[1]);
  if (!model)
    return;
  json_t *results = json_array();
  json_t *example = NULL;
  const char *example_id = text_of(model, "default_example_id");
  if (example_id &&
      pn_store_get(request->hub->store, PN_STORE_PREDICTIONS, example_id, &example) == 0) {
    json_array_append_new(results, pn_hub_prediction_object(request->hub, example));
    json_decref(example);
  }
  pn_hub_reply(request, 200, json_pack("{s:n, s:n, s:o}", "previous", "next", "results", results));
  json_decref(model);
}

void pn_hub_versions_list(pn_hub_request *request) {
  json_t *model = pn_hub_model_visible(request, request->params[0], request->params[1]);
  if (!model)
    return;
  pn_store_query query = {.parent = text_of(model, "id")};
  pn_hub_reply_page(request, PN_STORE_VERSIONS, &query, render_version);
  json_decref(model);
}

/* The version row of a visible model; answers 404 and returns NULL otherwise. */
static json_t *version_visible(pn_hub_request *request, json_t **model_out) {
  json_t *model = pn_hub_model_visible(request, request->params[0], request->params[1]);
  if (!model)
    return NULL;
  char *key = pn_strfmt("%s:%s", text_of(model, "id"), request->params[2]);
  json_t *version = NULL;
  int rc = key ? pn_store_get(request->hub->store, PN_STORE_VERSIONS, key, &version) : PN_ENOMEM;
  pn_free(key);
  if (rc < 0) {
    pn_hub_problem(request, 404, NULL,
                   "The model %s has no version %s. List its versions at "
                   "/v1/models/%s/versions.",
                   text_of(model, "id"), request->params[2], text_of(model, "id"));
    json_decref(model);
    return NULL;
  }
  if (model_out)
    *model_out = model;
  else
    json_decref(model);
  return version;
}

void pn_hub_version_get(pn_hub_request *request) {
  json_t *version = version_visible(request, NULL);
  if (!version)
    return;
  pn_hub_reply(request, 200, pn_hub_version_object(version));
  json_decref(version);
}

/* pinion's addition: what running a version outside the hub needs (`pinion deploy
 * kubernetes`): {"kind": "image"|"folder", "image": the reference or null, "gpu"}. */
void pn_hub_version_runtime(pn_hub_request *request) {
  json_t *version = version_visible(request, NULL);
  if (!version)
    return;
  const char *kind = text_of(version, "kind");
  int image = kind && strcmp(kind, "image") == 0;
  pn_hub_reply(request, 200,
               json_pack("{s:s, s:s?, s:b}", "kind", image ? "image" : "folder", "image",
                         image ? text_of(version, "source") : NULL, "gpu",
                         json_is_true(json_object_get(version, "gpu"))));
  json_decref(version);
}

/* Points the model's latest_version_id at its newest remaining version. */
static int refresh_latest(pn_hub *hub, json_t *model) {
  pn_store_query query = {.parent = text_of(model, "id"), .limit = 1};
  json_t *rows = NULL;
  int more = 0;
  int rc = pn_store_list(hub->store, PN_STORE_VERSIONS, &query, &rows, &more);
  if (rc < 0)
    return rc;
  json_t *newest = json_array_get(rows, 0);
  json_object_set(model, "latest_version_id", newest ? json_object_get(newest, "id") : json_null());
  json_decref(rows);
  return pn_hub_model_save(hub, model, 0);
}

/* A folder version's bundle goes with its last version row: the same bytes pushed to
 * another model share it (the version id is their sha256). */
static int delete_bundle(pn_hub *hub, const json_t *version) {
  const char *kind = text_of(version, "kind");
  const char *id = text_of(version, "id");
  if (!kind || strcmp(kind, "bundle") != 0 || !id)
    return 0;
  const char *statuses[] = {id, NULL};
  pn_store_query query = {.statuses = statuses, .limit = 1};
  json_t *others = NULL;
  int more = 0;
  int rc = pn_store_list(hub->store, PN_STORE_VERSIONS, &query, &others, &more);
  size_t count = json_array_size(others);
  json_decref(others);
  if (rc < 0 || count > 0)
    return rc;
  char *bundle_dir = pn_strfmt("%s/bundles/%s", hub->data_dir, id);
  rc = bundle_dir ? pn_fs_remove_tree(bundle_dir) : PN_ENOMEM;
  pn_free(bundle_dir);
  return rc;
}

void pn_hub_version_delete(pn_hub_request *request) {
  json_t *model = NULL;
  json_t *version = version_visible(request, &model);
  if (!version)
    return;
  if (strcmp(text_of(model, "owner"), request->account) != 0) {
    pn_hub_problem(request, 403, NULL, "Only the owner of %s may delete its versions.",
                   text_of(model, "id"));
  } else {
    int rc = pn_store_delete(request->hub->store, PN_STORE_VERSIONS, text_of(version, "key"));
    if (rc == 0)
      rc = refresh_latest(request->hub, model);
    if (rc == 0)
      rc = delete_bundle(request->hub, version);
    if (rc < 0)
      pn_hub_store_failed(request, rc, "deleting the version");
    else
      pn_hub_reply_empty(request, 204);
  }
  json_decref(version);
  json_decref(model);
}

/* --- publishing ---------------------------------------------------------------------- */

size_t pn_hub_bundle_max_bytes(const pn_hub *hub) {
  double option = hub->options ? hub->options->bundle_max_bytes : 0;
  return option > 0 ? (size_t)option
                    : (size_t)pn_env_number("PINION_BUNDLE_MAX_SIZE", "bytes", 1, 1e15,
                                            (double)PN_HUB_BUNDLE_MAX_BYTES);
}

size_t pn_hub_bundle_max_entries(const pn_hub *hub) {
  double option = hub->options ? hub->options->bundle_max_entries : 0;
  return option > 0 ? (size_t)option
                    : (size_t)pn_env_number("PINION_BUNDLE_MAX_ENTRIES", "entries", 1, 1e9,
                                            (double)PN_HUB_BUNDLE_MAX_ENTRIES);
}

typedef pn_hub_bundle bundle;

void pn_hub_bundle_free(bundle *found) {
  pn_free(found->dir);
  json_decref(found->schema);
  pn_free(found->error);
}

/* Unpacks the tar into DATA/bundles/<id>/ unless it is there already. The staging
 * folder is unique, so that two pushes of the same bytes may unpack at once: the
 * first to finish renames its folder into place and the other's is removed. */
static int unpack_bundle(const char *data_dir, const char *id, const void *tar, size_t length,
                         const pn_tar_limits *limits, char **bundle_dir, char **error) {
  *bundle_dir = pn_strfmt("%s/bundles/%s", data_dir, id);
  if (!*bundle_dir)
    return PN_ENOMEM;
  if (pn_fs_is_dir(*bundle_dir))
    return 0;
  char *staging = pn_strfmt("%s/tmp/bundle-%.16s-XXXXXX", data_dir, id);
  if (!staging)
    return PN_ENOMEM;
  int rc = mkdtemp(staging) ? 0 : PN_EIO;
  if (rc == 0)
    rc = pn_tar_unpack(tar, length, staging, limits, error);
  if (rc == 0 && rename(staging, *bundle_dir) < 0 && !pn_fs_is_dir(*bundle_dir))
    rc = PN_EIO;
  if (pn_fs_is_dir(staging))
    pn_fs_remove_tree(staging);
  pn_free(staging);
  return rc;
}

/* Hashes and unpacks a tar and reads its schema. It touches only the disk and its
 * arguments, so it runs on the hub's pool: a push of gigabytes never holds the loop. */
void pn_hub_bundle_prepare(const char *data_dir, const void *tar, size_t length,
                           const pn_tar_limits *limits, bundle *found) {
  found->rc = pn_crypto_sha256_hex(tar, length, found->id);
  if (found->rc == 0)
    found->rc = unpack_bundle(data_dir, found->id, tar, length, limits, &found->dir, &found->error);
  if (found->rc < 0)
    return;
  char *schema_path = pn_fs_join(found->dir, ".cog/openapi_schema.json");
  found->schema = schema_path ? json_load_file(schema_path, 0, NULL) : NULL;
  pn_free(schema_path);
  if (!json_is_object(found->schema)) {
    found->error = pn_strdup("the bundle has no valid .cog/openapi_schema.json: publish with "
                             "`pinion push`, which generates it");
    found->rc = PN_EINVAL;
  }
}

static int save_version(pn_hub *hub, json_t *model, json_t *version, int model_is_new) {
  pn_store_keys keys = {.id = text_of(version, "key"),
                        .account = text_of(model, "owner"),
                        .parent = text_of(model, "id"),
                        .status = text_of(version, "id"), /* looked up by bare id */
                        .created_at = text_of(version, "created_at")};
  int rc = pn_store_insert(hub->store, PN_STORE_VERSIONS, &keys, version);
  if (rc == PN_EEXISTS)
    return 0; /* the same bytes pushed again: the same version */
  if (rc < 0)
    return rc;
  json_object_set(model, "latest_version_id", json_object_get(version, "id"));
  return pn_hub_model_save(hub, model, model_is_new);
}

/* The model row for a push by `account`, created when missing. */
static int model_for_push(pn_hub *hub, const char *account, const char *owner, const char *name,
                          const char *visibility, json_t **model, int *is_new, char **error) {
  char *id = pn_strfmt("%s/%s", owner, name);
  int rc = id ? pn_store_get(hub->store, PN_STORE_MODELS, id, model) : PN_ENOMEM;
  pn_free(id);
  *is_new = 0;
  if (rc == PN_ENOENT) {
    if (!valid_name(name)) {
      *error = pn_strfmt("the model name \"%s\" is not valid: use lowercase letters, digits, "
                         "dashes, underscores and dots",
                         name);
      return PN_EINVAL;
    }
    *model = new_model(
        owner, name, visibility && strcmp(visibility, "public") == 0 ? "public" : "private", "cpu");
    *is_new = 1;
    return *model ? 0 : PN_ENOMEM;
  }
  if (rc == 0 && strcmp(text_of(*model, "owner"), account) != 0) {
    json_decref(*model);
    *model = NULL;
    *error = pn_strfmt("the model %s/%s belongs to another account", owner, name);
    return PN_ESTATE;
  }
  return rc;
}

/* Saves the version of a prepared bundle as owner/name (creating the model), on the
 * loop. *version_out is a new reference to the stored row. */
int pn_hub_bundle_record(pn_hub *hub, const char *account, const char *owner, const char *name,
                         const bundle *found, json_t **version_out, char **error) {
  json_t *model = NULL;
  int is_new = 0;
  int rc = model_for_push(hub, account, owner, name, NULL, &model, &is_new, error);
  if (rc < 0)
    return rc;
  char now[40];
  pn_hub_now(now);
  char *key = pn_strfmt("%s/%s:%s", owner, name, found->id);
  json_t *version = json_pack(
      "{s:s?, s:s, s:s, s:s, s:s, s:O, s:s, s:s?, s:b}", "key", key, "id", found->id, "model",
      text_of(model, "id"), "created_at", now, "cog_version", PN_COG_VERSION, "openapi_schema",
      found->schema, "kind", "bundle", "source", found->dir, "gpu", found->gpu);
  rc = version ? save_version(hub, model, version, is_new) : PN_ENOMEM;
  json_t *stored = NULL;
  if (rc == 0 && key && pn_store_get(hub->store, PN_STORE_VERSIONS, key, &stored) == 0) {
    json_decref(version);
    version = stored;
  }
  if (rc == 0)
    *version_out = version;
  else
    json_decref(version);
  pn_free(key);
  json_decref(model);
  return rc;
}

pn_tar_limits pn_hub_bundle_limits(const pn_hub *hub) {
  pn_tar_limits limits = {pn_hub_bundle_max_bytes(hub), pn_hub_bundle_max_entries(hub)};
  return limits;
}

static void push_image(pn_hub_request *request, json_t *body) {
  const char *image = text_of(body, "image");
  json_t *schema = json_object_get(body, "openapi_schema");
  if (!image || !json_is_object(schema)) {
    pn_hub_problem(request, 400, NULL,
                   "An image version needs `image` (a reference) and `openapi_schema` (the "
                   "image's run.cog.openapi_schema label) in the body.");
    return;
  }
  const char *digest = text_of(body, "digest");
  char id[65];
  const char *basis = digest ? digest : image;
  if (pn_crypto_sha256_hex(basis, strlen(basis), id) < 0) {
    pn_hub_problem(request, 500, NULL, "The hub cannot hash: %s", pn_crypto_error());
    return;
  }
  json_t *model = NULL;
  int is_new = 0;
  char *error = NULL;
  int rc = model_for_push(request->hub, request->account, request->params[0], request->params[1],
                          pn_hub_query(request, "visibility"), &model, &is_new, &error);
  if (rc < 0) {
    pn_hub_problem(request, rc == PN_ESTATE ? 403 : 400, NULL, "Cannot publish: %s.",
                   error ? error : pn_strerror(rc));
    pn_free(error);
    return;
  }
  char now[40];
  pn_hub_now(now);
  char *key = pn_strfmt("%s:%s", text_of(model, "id"), id);
  const char *cog_version = text_of(body, "cog_version");
  json_t *version = json_pack("{s:s?, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:b}", "key", key,
                              "id", id, "model", text_of(model, "id"), "created_at", now,
                              "cog_version", cog_version ? cog_version : PN_COG_VERSION,
                              "openapi_schema", schema, "kind", "image", "source", image, "gpu",
                              json_is_true(json_object_get(body, "gpu")));
  pn_free(key);
  rc = save_version(request->hub, model, version, is_new);
  if (rc < 0)
    pn_hub_store_failed(request, rc, "saving the version");
  else
    pn_hub_reply(request, 201, pn_hub_version_object(version));
  json_decref(version);
  json_decref(model);
}

/* A tar push while its bundle is prepared on the pool, which also pulls the body
 * (taken from the request) into one piece. evhttp keeps the request until it is
 * answered, even when the client has gone. */
typedef struct push_job {
  pn_hub *hub;
  struct evhttp_request *request;
  char *account, *owner, *name;
  struct evbuffer *tar;
  pn_tar_limits limits;
  bundle found;
} push_job;

static void push_job_free(push_job *job) {
  if (job->tar)
    evbuffer_free(job->tar);
  pn_hub_bundle_free(&job->found);
  pn_free(job->account);
  pn_free(job->owner);
  pn_free(job->name);
  pn_free(job);
}

static void reply_push(pn_hub_request *request, int rc, const char *error, json_t *version,
                       const pn_tar_limits *limits) {
  if (rc == PN_ETOOBIG)
    pn_hub_problem(request, 413, NULL,
                   "Cannot publish the bundle: %s. This hub takes bundles of at most %zu bytes "
                   "unpacked (--bundle-max-size, PINION_BUNDLE_MAX_SIZE) and %zu entries "
                   "(--bundle-max-entries, PINION_BUNDLE_MAX_ENTRIES): leave large or generated "
                   "files out with .dockerignore, or ask the hub's operator to raise the limit.",
                   error ? error : "it is too large", limits->max_bytes, limits->max_entries);
  else if (rc < 0)
    pn_hub_problem(request,
                   rc == PN_ESTATE   ? 403
                   : rc == PN_ENOMEM ? 500
                                     : 400,
                   NULL, "Cannot publish the bundle: %s.", error ? error : pn_strerror(rc));
  else
    pn_hub_reply(request, 201, pn_hub_version_object(version));
}

static void push_work(void *arg) {
  push_job *job = arg;
  size_t length = evbuffer_get_length(job->tar);
  const unsigned char *tar = evbuffer_pullup(job->tar, -1);
  pn_hub_bundle_prepare(job->hub->data_dir, tar ? (const void *)tar : "", length, &job->limits,
                        &job->found);
}

static void push_done(void *arg, int canceled) {
  push_job *job = arg;
  pn_hub_request reply = {.hub = job->hub, .request = job->request};
  if (canceled) {
    pn_hub_problem(&reply, 503, NULL, "The hub stopped before it unpacked the bundle. Push again.");
  } else {
    json_t *version = NULL;
    char *error = NULL;
    int rc = job->found.rc;
    if (rc == 0)
      rc = pn_hub_bundle_record(job->hub, job->account, job->owner, job->name, &job->found,
                                &version, &error);
    reply_push(&reply, rc, error ? error : job->found.error, version, &job->limits);
    json_decref(version);
    pn_free(error);
  }
  push_job_free(job);
}

/* Hands the tar to the pool; the reply comes from push_done. */
static void push_bundle(pn_hub_request *request) {
  push_job *job = pn_calloc(1, sizeof *job);
  if (job) {
    job->hub = request->hub;
    job->request = request->request;
    job->account = pn_strdup(request->account);
    job->owner = pn_strdup(request->params[0]);
    job->name = pn_strdup(request->params[1]);
    job->tar = pn_hub_body_take(request);
    job->limits = pn_hub_bundle_limits(request->hub);
    const char *gpu = pn_hub_query(request, "gpu");
    job->found.gpu = gpu && strcmp(gpu, "true") == 0;
  }
  int rc = job && job->account && job->owner && job->name && job->tar
               ? pn_hub_pool_submit(request->hub, push_work, push_done, job)
               : PN_ENOMEM;
  if (rc == 0)
    return;
  if (job)
    push_job_free(job);
  pn_hub_problem_not_queued(request, rc, "unpacking pushes");
}

void pn_hub_versions_push(pn_hub_request *request) {
  if (strcmp(request->params[0], request->account) != 0) {
    pn_hub_problem(request, 403, NULL,
                   "You can only publish models under your own account \"%s\", not \"%s\".",
                   request->account, request->params[0]);
    return;
  }
  const char *type = pn_hub_request_header(request, "Content-Type");
  if (type && strncmp(type, "application/json", 16) == 0) {
    pn_hub_body_pull(request);
    json_t *body = pn_hub_body_object(request);
    if (body)
      push_image(request, body);
    json_decref(body);
    return;
  }
  if (!type || strncmp(type, "application/x-tar", 17) != 0) {
    pn_hub_problem(request, 415, NULL,
                   "Publish a version with Content-Type: application/x-tar (a model folder, as "
                   "`pinion push` sends) or application/json ({\"image\", \"openapi_schema\"}).");
    return;
  }
  json_t *model = NULL;
  int is_new = 0;
  char *error = NULL;
  /* Create the model first when asked for a public one; record_version creates private
   * ones. */
  const char *visibility = pn_hub_query(request, "visibility");
  int rc = model_for_push(request->hub, request->account, request->params[0], request->params[1],
                          visibility, &model, &is_new, &error);
  if (rc == 0 && is_new && visibility && strcmp(visibility, "public") == 0)
    rc = pn_hub_model_save(request->hub, model, 1);
  json_decref(model);
  if (rc < 0) {
    pn_tar_limits limits = pn_hub_bundle_limits(request->hub);
    reply_push(request, rc, error, NULL, &limits);
  } else {
    push_bundle(request);
  }
  pn_free(error);
}
