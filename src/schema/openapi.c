/* OpenAPI generation: from the worker's neutral signature description to the document
 * Cog 0.22's static generator writes (cog-compat.md §3), so that clients written for
 * Cog see the same inputs, titles, enums and outputs.
 *
 * The document is assembled in the order Cog's maps keep (paths, components.schemas,
 * and every `properties` in parameter or field order), then every other object has
 * its keys sorted, as Go's encoding/json does for plain maps. Integral floats become
 * integers because Go writes 1.0 as 1. Last, each default is checked against its own
 * property with the validator, as Cog validates the finished document. */
#include "schema/openapi.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"
#include "schema/title.h"
#include "schema/validate.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Documents are small; this only bounds pn_schema_dump's buffer. */
#define DOCUMENT_LIMIT (64u * 1024 * 1024)
/* Floats with an integral value below this magnitude are written as integers. */
#define EXACT_INTEGER_LIMIT 9007199254740992.0

/* The names that differ between a predict and a train document. */
typedef struct mode_names {
  const char *input, *output, *request, *response;
  const char *path, *summary, *operation, *description;
  const char *cancel_path, *cancel_operation, *id, *id_title;
} mode_names;

static const mode_names predict_names = {
    "Input",
    "Output",
    "PredictionRequest",
    "PredictionResponse",
    "/predictions",
    "Predict",
    "predict_predictions_post",
    "Run a single prediction on the model",
    "/predictions/{prediction_id}/cancel",
    "cancel_predictions__prediction_id__cancel_post",
    "prediction_id",
    "Prediction Id",
};

static const mode_names train_names = {
    "TrainingInput",
    "TrainingOutput",
    "TrainingRequest",
    "TrainingResponse",
    "/trainings",
    "Train",
    "train_trainings_post",
    "Run a single training on the model",
    "/trainings/{training_id}/cancel",
    "cancel_trainings__training_id__cancel_post",
    "training_id",
    "Training Id",
};

typedef struct schema_builder {
  const mode_names *names;
  json_t *enums; /* one component per choices/Literal input, in parameter order */
  char *error;
} schema_builder;

static int fail(schema_builder *builder, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(schema_builder *builder, const char *format, ...) {
  va_list args;
  va_start(args, format);
  pn_buf message;
  pn_buf_init(&message, 4096);
  int status = pn_buf_vappendf(&message, format, args);
  va_end(args);
  builder->error = status ? NULL : pn_buf_take(&message);
  pn_buf_free(&message);
  return builder->error ? PN_EINVAL : PN_ENOMEM;
}

static const char *kind_of(const json_t *type) {
  const char *kind = json_string_value(json_object_get(type, "kind"));
  return kind ? kind : "";
}

static int is_kind(const json_t *type, const char *kind) {
  return strcmp(kind_of(type), kind) == 0;
}

/* A copy of `value` in which integral floats are integers, as Go writes them. */
static json_t *go_numbers(const json_t *value) {
  if (json_is_real(value)) {
    double number = json_real_value(value);
    if (number > -EXACT_INTEGER_LIMIT && number < EXACT_INTEGER_LIMIT &&
        number == (double)(json_int_t)number)
      return json_integer((json_int_t)number);
    return json_real(number);
  }
  if (json_is_array(value)) {
    json_t *copy = json_array();
    size_t index;
    const json_t *item;
    json_array_foreach(value, index, item) {
      if (!copy || json_array_append_new(copy, go_numbers(item))) {
        json_decref(copy);
        return NULL;
      }
    }
    return copy;
  }
  if (json_is_object(value)) {
    json_t *copy = json_object();
    const char *key;
    const json_t *item;
    json_object_foreach((json_t *)value, key, item) {
      if (!copy || json_object_set_new(copy, key, go_numbers(item))) {
        json_decref(copy);
        return NULL;
      }
    }
    return copy;
  }
  return json_deep_copy(value);
}

/* Sets `key` to a new reference, failing cleanly when `value` is NULL. */
static int set(json_t *object, const char *key, json_t *value) {
  return json_object_set_new(object, key, value) ? PN_ENOMEM : 0;
}

static json_t *ref_to(const char *component) {
  char *ref = pn_strfmt("#/components/schemas/%s", component);
  json_t *result = ref ? json_pack("{s:s}", "$ref", ref) : NULL;
  pn_free(ref);
  return result;
}

/* ---- type fragments (§3.4) ------------------------------------------------------ */

/* The fragment of a type that is not a container, or NULL with *known 0. */
static json_t *scalar_fragment(const json_t *type, int *known) {
  const char *kind = kind_of(type);
  *known = 1;
  if (strcmp(kind, "str") == 0)
    return json_pack("{s:s}", "type", "string");
  if (strcmp(kind, "int") == 0)
    return json_pack("{s:s}", "type", "integer");
  if (strcmp(kind, "float") == 0)
    return json_pack("{s:s}", "type", "number");
  if (strcmp(kind, "bool") == 0)
    return json_pack("{s:s}", "type", "boolean");
  if (strcmp(kind, "path") == 0 || strcmp(kind, "file") == 0)
    return json_pack("{s:s,s:s}", "format", "uri", "type", "string");
  if (strcmp(kind, "secret") == 0)
    return json_pack("{s:s,s:s,s:b,s:b}", "format", "password", "type", "string", "writeOnly", 1,
                     "x-cog-secret", 1);
  if (strcmp(kind, "dict") == 0 || strcmp(kind, "any") == 0 || strcmp(kind, "opaque") == 0)
    return json_pack("{s:s}", "type", "object");
  *known = 0;
  return NULL;
}

static int scalar_or_fail(schema_builder *builder, const json_t *type, json_t **fragment) {
  int known;
  *fragment = scalar_fragment(type, &known);
  if (!known)
    return fail(builder, "unsupported type: %s", json_is_object(type) ? kind_of(type) : "(none)");
  return *fragment ? 0 : PN_ENOMEM;
}

/* Hands `result` over on success; releases it on failure. Every fragment builder ends
 * here, so that on failure *fragment is NULL and nothing is left behind. */
static int finish(int status, json_t *result, json_t **fragment) {
  if (!status && !result)
    status = PN_ENOMEM;
  if (status) {
    json_decref(result);
    result = NULL;
  }
  *fragment = result;
  return status;
}

static int set_title(json_t *object, const char *name) {
  char *title = pn_schema_title(name);
  json_t *value = title ? json_string(title) : NULL;
  pn_free(title);
  return set(object, "title", value);
}

static int list_fragment(schema_builder *builder, const json_t *type, json_t **fragment) {
  const json_t *items = json_object_get(type, "items");
  if (!json_is_object(items))
    return finish(fail(builder, "unsupported type: list"), NULL, fragment);
  json_t *item_fragment;
  int status = scalar_or_fail(builder, items, &item_fragment);
  if (status)
    return finish(status, NULL, fragment);
  return finish(0, json_pack("{s:o,s:s}", "items", item_fragment, "type", "array"), fragment);
}

/* Union members are limited to what Cog C accepts: str/int/float/bool/dict/Any/list[T]. */
static int union_member_fragment(schema_builder *builder, const json_t *member, json_t **fragment) {
  static const char *const allowed[] = {"str", "int", "float", "bool", "dict", "any"};
  if (is_kind(member, "list"))
    return list_fragment(builder, member, fragment);
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
    if (is_kind(member, allowed[i]))
      return scalar_or_fail(builder, member, fragment);
  *fragment = NULL;
  return fail(builder,
              "unsupported type: union member %s (unions may hold str, int, float, bool, dict, "
              "Any and list[T])",
              kind_of(member));
}

static int union_fragment(schema_builder *builder, const json_t *type, int nullable,
                          json_t **fragment) {
  json_t *any_of = json_array();
  json_t *result = json_pack("{s:o}", "anyOf", any_of);
  int status = result ? 0 : PN_ENOMEM;
  size_t index;
  const json_t *member;
  json_array_foreach(json_object_get(type, "members"), index, member) {
    json_t *member_fragment;
    if (!status)
      status = union_member_fragment(builder, member, &member_fragment);
    if (!status && json_array_append_new(any_of, member_fragment))
      status = PN_ENOMEM;
    if (!status && nullable)
      status = set(member_fragment, "nullable", json_true());
  }
  if (!status && nullable)
    status = set(result, "nullable", json_true());
  return finish(status, result, fragment);
}

/* The fragment of an input's type, optional already looked through. */
static int input_fragment(schema_builder *builder, const json_t *type, int nullable,
                          json_t **fragment) {
  if (is_kind(type, "union"))
    return union_fragment(builder, type, nullable, fragment);
  json_t *result;
  int status = is_kind(type, "list") ? list_fragment(builder, type, &result)
                                     : scalar_or_fail(builder, type, &result);
  if (!status && nullable)
    status = set(result, "nullable", json_true());
  return finish(status, result, fragment);
}

static int output_fragment(schema_builder *builder, const json_t *type, int top, json_t **fragment);

static int object_fragment(schema_builder *builder, const json_t *type, json_t **fragment) {
  json_t *properties = json_object(), *required = json_array();
  json_t *result = json_pack("{s:o,s:s}", "properties", properties, "type", "object");
  int status = result && required ? 0 : PN_ENOMEM;
  size_t index;
  const json_t *field;
  json_array_foreach(json_object_get(type, "fields"), index, field) {
    const char *name = json_string_value(json_object_get(field, "name"));
    json_t *field_fragment;
    if (!status && !name)
      status = fail(builder, "an output field has no name");
    if (!status)
      status = output_fragment(builder, json_object_get(field, "type"), 0, &field_fragment);
    if (!status)
      status = set(properties, name, field_fragment);
    if (!status)
      status = set_title(field_fragment, name);
    if (!status && json_is_true(json_object_get(field, "required")))
      status = json_array_append_new(required, json_string(name)) ? PN_ENOMEM : 0;
  }
  if (!status && json_array_size(required) > 0)
    status = set(result, "required", json_incref(required));
  json_decref(required);
  return finish(status, result, fragment);
}

static int iterator_fragment(schema_builder *builder, const json_t *type, json_t **fragment) {
  json_t *items;
  int status = output_fragment(builder, json_object_get(type, "items"), 0, &items);
  if (status)
    return finish(status, NULL, fragment);
  json_t *result =
      json_pack("{s:o,s:s,s:s}", "items", items, "type", "array", "x-cog-array-type", "iterator");
  if (result && json_is_true(json_object_get(type, "concatenate")))
    status = set(result, "x-cog-array-display", json_string("concatenate"));
  return finish(status, result, fragment);
}

static int output_fragment(schema_builder *builder, const json_t *type, int top,
                           json_t **fragment) {
  const char *kind = kind_of(type);
  json_t *inner;
  int status;
  if (strcmp(kind, "optional") == 0) {
    if (top)
      return finish(fail(builder, "unsupported output type: Optional is not allowed as a "
                                  "return type"),
                    NULL, fragment);
    status = output_fragment(builder, json_object_get(type, "inner"), 0, &inner);
    if (!status)
      status = set(inner, "nullable", json_true());
    return finish(status, inner, fragment);
  }
  if (strcmp(kind, "union") == 0)
    return finish(fail(builder, "unsupported type: union types are not supported as output"), NULL,
                  fragment);
  if (strcmp(kind, "iterator") == 0)
    return iterator_fragment(builder, type, fragment);
  if (strcmp(kind, "list") == 0 || strcmp(kind, "dict_of") == 0) {
    int list = strcmp(kind, "list") == 0;
    status = output_fragment(builder, json_object_get(type, list ? "items" : "values"), 0, &inner);
    if (status)
      return finish(status, NULL, fragment);
    return finish(0,
                  json_pack("{s:o,s:s}", list ? "items" : "additionalProperties", inner, "type",
                            list ? "array" : "object"),
                  fragment);
  }
  if (strcmp(kind, "object") == 0)
    return object_fragment(builder, type, fragment);
  return scalar_or_fail(builder, type, fragment);
}

/* ---- the Input component (§3.3) ------------------------------------------------ */

static const char *enum_type_of(const json_t *type) {
  static const char *const map[][2] = {
      {"str", "string"},  {"secret", "string"}, {"path", "string"}, {"file", "string"},
      {"int", "integer"}, {"float", "number"},  {"bool", "boolean"}};
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (is_kind(type, map[i][0]))
      return map[i][1];
  return NULL;
}

/* The JSON type shared by every Literal value, or NULL when they differ. */
static const char *literal_type_of(const json_t *values) {
  const char *common = NULL;
  size_t index;
  const json_t *value;
  json_array_foreach(values, index, value) {
    const char *type = json_is_string(value)    ? "string"
                       : json_is_integer(value) ? "integer"
                       : json_is_real(value)    ? "number"
                       : json_is_boolean(value) ? "boolean"
                                                : "";
    if (common && strcmp(common, type) != 0)
      return NULL;
    common = type;
  }
  return common && *common ? common : NULL;
}

/* choices and Literal: the property refers to an enum component named after the
 * parameter, whose type is the parameter's JSON type. */
static int enum_property(schema_builder *builder, const char *name, const json_t *type,
                         const json_t *choices, json_t **property) {
  const json_t *values = choices ? choices : json_object_get(type, "values");
  const char *enum_type = choices ? enum_type_of(type) : literal_type_of(values);
  if (!json_is_array(values) || !enum_type)
    return finish(fail(builder,
                       "parameter '%s': choices must be a list of str, int, float or bool "
                       "values of the parameter's type",
                       name),
                  NULL, property);
  json_t *component = json_pack("{s:s,s:o,s:s,s:s}", "description", "An enumeration.", "enum",
                                go_numbers(values), "title", name, "type", enum_type);
  int status = set(builder->enums, name, component);
  return finish(status, status ? NULL : json_pack("{s:[o]}", "allOf", ref_to(name)), property);
}

static int file_like(const json_t *type) {
  if (is_kind(type, "list"))
    type = json_object_get(type, "items");
  return is_kind(type, "path") || is_kind(type, "file");
}

/* Copies the Input(...) keywords that are set onto the property. */
static int set_constraints(schema_builder *builder, const char *name, const json_t *input,
                           const json_t *type, json_t *property) {
  static const char *const keywords[][2] = {
      {"description", "description"}, {"ge", "minimum"},           {"le", "maximum"},
      {"min_length", "minLength"},    {"max_length", "maxLength"}, {"regex", "pattern"},
  };
  int status = 0;
  for (size_t i = 0; !status && i < sizeof keywords / sizeof *keywords; i++) {
    const json_t *value = json_object_get(input, keywords[i][0]);
    if (value && !json_is_null(value))
      status = set(property, keywords[i][1], go_numbers(value));
  }
  if (!status && json_is_true(json_object_get(input, "deprecated")))
    status = set(property, "deprecated", json_true());
  const json_t *accept = json_object_get(input, "accept");
  if (!status && accept && !json_is_null(accept)) {
    if (!file_like(type))
      return fail(builder, "accept is only valid on Path or File inputs (parameter '%s')", name);
    status = set(property, "x-cog-accept", json_deep_copy(accept));
  }
  return status;
}

static int build_property(schema_builder *builder, const json_t *input, size_t order,
                          json_t *properties, json_t *required) {
  const char *name = json_string_value(json_object_get(input, "name"));
  if (!name)
    return fail(builder, "an input has no name");
  const json_t *type = json_object_get(input, "type");
  int optional = is_kind(type, "optional");
  if (optional)
    type = json_object_get(type, "inner");
  const json_t *choices = json_object_get(input, "choices");
  if (json_is_null(choices))
    choices = NULL;
  int has_default = json_is_true(json_object_get(input, "has_default"));
  const json_t *default_value = json_object_get(input, "default");
  int none_default = has_default && (!default_value || json_is_null(default_value));
  int nullable = optional || json_is_true(json_object_get(type, "nullable")) ||
                 (is_kind(type, "secret") && none_default);

  json_t *property;
  int status;
  if (choices || is_kind(type, "literal")) {
    status = enum_property(builder, name, type, choices, &property);
    if (!status && nullable)
      status = set(property, "nullable", json_true());
  } else {
    status = input_fragment(builder, type, nullable, &property);
    if (!status)
      status = set_title(property, name);
  }
  if (status) {
    json_decref(property);
    return status;
  }
  status = set(properties, name, property);
  /* A None default is a default only where None is a value (pinion's choice #8). */
  if (!status && has_default && !none_default)
    status = set(property, "default", go_numbers(default_value));
  else if (!status && none_default && nullable)
    status = set(property, "default", json_null());
  if (!status)
    status = set_constraints(builder, name, input, type, property);
  if (!status)
    status = set(property, "x-order", json_integer((json_int_t)order));
  if (!status && !has_default && !optional)
    status = json_array_append_new(required, json_string(name)) ? PN_ENOMEM : 0;
  return status;
}

static int input_component(schema_builder *builder, const json_t *signature, json_t **component) {
  json_t *properties = json_object(), *required = json_array();
  json_t *result = json_pack("{s:o,s:s,s:s}", "properties", properties, "title",
                             builder->names->input, "type", "object");
  int status = result && required ? 0 : PN_ENOMEM;
  size_t index;
  const json_t *input;
  json_array_foreach(json_object_get(signature, "inputs"), index, input) {
    if (!status)
      status = build_property(builder, input, index, properties, required);
  }
  if (!status && json_array_size(required) > 0)
    status = set(result, "required", json_incref(required));
  json_decref(required);
  return finish(status, result, component);
}

/* ---- fixed components and paths (§3.2) ----------------------------------------- */

static json_t *string_titled(const char *title) {
  return json_pack("{s:s,s:s}", "title", title, "type", "string");
}

static json_t *request_component(const mode_names *names) {
  return json_pack("{s:{s:o,s:o},s:s,s:s}", "properties", "id", string_titled("Id"), "input",
                   ref_to(names->input), "title", names->request, "type", "object");
}

static json_t *date_time(const char *title) {
  return json_pack("{s:s,s:s,s:s}", "format", "date-time", "title", title, "type", "string");
}

static json_t *response_component(const mode_names *names) {
  return json_pack("{s:{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o},s:s,s:s}", "properties",
                   "completed_at", date_time("Completed At"), "created_at", date_time("Created At"),
                   "error", string_titled("Error"), "id", string_titled("Id"), "input",
                   ref_to(names->input), "logs", string_titled("Logs"), "metrics",
                   json_pack("{s:s,s:s}", "title", "Metrics", "type", "object"), "output",
                   ref_to(names->output), "started_at", date_time("Started At"), "status",
                   string_titled("Status"), "version", string_titled("Version"), "title",
                   names->response, "type", "object");
}

static json_t *status_component(void) {
  return json_pack("{s:s,s:[s,s,s,s,s],s:s,s:s}", "description", "An enumeration.", "enum",
                   "starting", "processing", "succeeded", "canceled", "failed", "title", "Status",
                   "type", "string");
}

static json_t *http_validation_error_component(void) {
  return json_pack("{s:{s:{s:o,s:s,s:s}},s:s,s:s}", "properties", "detail", "items",
                   ref_to("ValidationError"), "title", "Detail", "type", "array", "title",
                   "HTTPValidationError", "type", "object");
}

static json_t *validation_error_component(void) {
  return json_pack("{s:{s:{s:{s:[{s:s},{s:s}]},s:s,s:s},s:o,s:o},s:[s,s,s],s:s,s:s}", "properties",
                   "loc", "items", "anyOf", "type", "string", "type", "integer", "title",
                   "Location", "type", "array", "msg", string_titled("Message"), "type",
                   string_titled("Error Type"), "required", "loc", "msg", "type", "title",
                   "ValidationError", "type", "object");
}

static json_t *json_content(json_t *schema) {
  return json_pack("{s:{s:{s:o}}}", "content", "application/json", "schema", schema);
}

static json_t *response(json_t *schema, const char *description) {
  json_t *result = json_content(schema);
  if (result && set(result, "description", json_string(description))) {
    json_decref(result);
    return NULL;
  }
  return result;
}

static json_t *get_operation(const char *operation, const char *summary) {
  return json_pack("{s:{s:s,s:{s:o},s:s}}", "get", "operationId", operation, "responses", "200",
                   response(json_object(), "Successful Response"), "summary", summary);
}

static json_t *validation_failure(void) {
  return response(ref_to("HTTPValidationError"), "Validation Error");
}

static json_t *run_operation(const mode_names *names, int streaming) {
  json_t *post =
      json_pack("{s:s,s:s,s:o,s:{s:o,s:o},s:s}", "description", names->description, "operationId",
                names->operation, "requestBody", json_content(ref_to(names->request)), "responses",
                "200", response(ref_to(names->response), "Successful Response"), "422",
                validation_failure(), "summary", names->summary);
  if (post && streaming && set(post, "x-cog-streaming", json_true())) {
    json_decref(post);
    return NULL;
  }
  return json_pack("{s:o}", "post", post);
}

static json_t *cancel_operation(const mode_names *names) {
  return json_pack("{s:{s:s,s:[{s:s,s:s,s:b,s:o}],s:{s:o,s:o},s:s}}", "post", "operationId",
                   names->cancel_operation, "parameters", "in", "path", "name", names->id,
                   "required", 1, "schema", string_titled(names->id_title), "responses", "200",
                   response(json_object(), "Successful Response"), "422", validation_failure(),
                   "summary", "Cancel");
}

static json_t *paths(const mode_names *names, int streaming) {
  json_t *result = json_pack("{s:o,s:o}", "/", get_operation("root__get", "Root"), "/health-check",
                             get_operation("healthcheck_health_check_get", "Healthcheck"));
  if (result && (set(result, names->path, run_operation(names, streaming)) ||
                 set(result, names->cancel_path, cancel_operation(names)))) {
    json_decref(result);
    return NULL;
  }
  return result;
}

/* components.schemas in Cog's order: Input, Output, the enums, then the fixed ones.
 * Takes over `input` and `output`. */
static int schemas(schema_builder *builder, json_t *input, json_t *output, json_t **result) {
  const mode_names *names = builder->names;
  const char *const fixed[] = {names->input,     names->output, names->request,
                               names->response,  "Status",      "HTTPValidationError",
                               "ValidationError"};
  json_t *all = json_pack("{s:o,s:o}", names->input, input, names->output, output);
  int status = all ? 0 : PN_ENOMEM;
  const char *name;
  json_t *component;
  json_object_foreach(builder->enums, name, component) {
    for (size_t i = 0; !status && i < sizeof fixed / sizeof *fixed; i++)
      if (strcmp(fixed[i], name) == 0)
        status =
            fail(builder, "parameter '%s': its choices would replace the %s component", name, name);
    if (!status)
      status = set(all, name, json_incref(component));
  }
  if (!status)
    status = set(all, names->request, request_component(names));
  if (!status)
    status = set(all, names->response, response_component(names));
  if (!status)
    status = set(all, "Status", status_component());
  if (!status)
    status = set(all, "HTTPValidationError", http_validation_error_component());
  if (!status)
    status = set(all, "ValidationError", validation_error_component());
  return finish(status, all, result);
}

/* ---- key order ------------------------------------------------------------------ */

static int compare_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int keeps_order(const char *key) {
  return strcmp(key, "paths") == 0 || strcmp(key, "schemas") == 0 || strcmp(key, "properties") == 0;
}

/* A copy of `value` in which every object has sorted keys except the maps Cog keeps
 * in insertion order (`paths`, `components.schemas`, each `properties`). */
static json_t *go_key_order(const json_t *value, int is_map) {
  if (json_is_array(value)) {
    json_t *copy = json_array();
    size_t index;
    const json_t *item;
    json_array_foreach(value, index, item) {
      if (!copy || json_array_append_new(copy, go_key_order(item, 0))) {
        json_decref(copy);
        return NULL;
      }
    }
    return copy;
  }
  if (!json_is_object(value))
    return json_incref((json_t *)value);
  size_t count = json_object_size(value), index = 0;
  const char **keys = pn_calloc(count, sizeof *keys);
  if (!keys)
    return NULL;
  json_t *copy = json_object();
  const char *key;
  const json_t *item;
  json_object_foreach((json_t *)value, key, item) keys[index++] = key;
  if (!is_map)
    qsort(keys, count, sizeof *keys, compare_keys);
  for (index = 0; copy && index < count; index++) {
    json_t *child =
        go_key_order(json_object_get(value, keys[index]), !is_map && keeps_order(keys[index]));
    if (json_object_set_new(copy, keys[index], child)) {
      json_decref(copy);
      copy = NULL;
    }
  }
  pn_free(keys);
  return copy;
}

/* ---- building ------------------------------------------------------------------- */

/* Cog validates the finished document, so a default that breaks its own property's
 * constraints (`default=1, ge=2`, a default outside the choices) fails the build. */
static int check_defaults(schema_builder *builder, const json_t *document) {
  pn_schema_validator *validator;
  char *problem;
  int status = pn_schema_validator_new(document, builder->names->input, &validator, &problem);
  if (status == PN_EINVAL) {
    status = fail(builder, "Model schema is invalid: %s", problem);
    pn_free(problem);
  }
  if (status)
    return status;
  const json_t *properties = json_object_get(
      json_object_get(json_object_get(json_object_get(document, "components"), "schemas"),
                      builder->names->input),
      "properties");
  const char *name;
  const json_t *property;
  json_object_foreach((json_t *)properties, name, property) {
    const json_t *default_value = json_object_get(property, "default");
    if (status || !default_value)
      continue;
    status = pn_schema_check_input(validator, name, default_value, &problem);
    if (status == PN_EINVAL) {
      status =
          fail(builder, "Model schema is invalid: default of parameter '%s': %s", name, problem);
      pn_free(problem);
    }
  }
  pn_schema_validator_free(validator);
  return status;
}

static int assemble(schema_builder *builder, const json_t *signature, const char *cog_version,
                    json_t **document) {
  json_t *input = NULL, *output = NULL, *all = NULL;
  int status = input_component(builder, signature, &input);
  if (!status)
    status = output_fragment(builder, json_object_get(signature, "output"), 1, &output);
  if (!status)
    status = set(output, "title", json_string("Output"));
  if (status) {
    json_decref(input);
    json_decref(output);
    return status;
  }
  status = schemas(builder, input, output, &all);
  if (status)
    return status;
  int streaming = json_is_true(json_object_get(signature, "streaming"));
  json_t *assembled = json_pack("{s:{s:o},s:{s:s,s:s},s:s,s:o}", "components", "schemas", all,
                                "info", "title", "Cog", "version", cog_version, "openapi", "3.0.2",
                                "paths", paths(builder->names, streaming));
  *document = assembled ? go_key_order(assembled, 0) : NULL;
  json_decref(assembled);
  return *document ? 0 : PN_ENOMEM;
}

int pn_schema_build(const json_t *signature, enum pn_schema_mode mode, const char *cog_version,
                    json_t **document, char **error) {
  *document = NULL;
  *error = NULL;
  schema_builder builder = {.names = mode == PN_SCHEMA_TRAIN ? &train_names : &predict_names,
                            .enums = json_object()};
  int status = builder.enums ? 0 : PN_ENOMEM;
  if (!status && !json_is_object(signature))
    status = fail(&builder, "the signature description is not an object");
  json_t *result = NULL;
  if (!status)
    status = assemble(&builder, signature, cog_version, &result);
  if (!status)
    status = check_defaults(&builder, result);
  json_decref(builder.enums);
  if (status) {
    json_decref(result);
    *error = builder.error;
    return status;
  }
  *document = result;
  return 0;
}

/* Adds the entries of `source` whose keys `target` does not have yet. */
static int add_absent(json_t *target, const json_t *source) {
  if (!json_is_object(target) || !json_is_object(source))
    return PN_EINVAL;
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)source, key, value) {
    if (!json_object_get(target, key) && set(target, key, json_deep_copy(value)))
      return PN_ENOMEM;
  }
  return 0;
}

static json_t *schemas_of(const json_t *document) {
  return json_object_get(json_object_get(document, "components"), "schemas");
}

int pn_schema_merge(const json_t *predict_document, const json_t *train_document,
                    json_t **document) {
  *document = NULL;
  json_t *merged = json_deep_copy(predict_document);
  int status = merged ? 0 : PN_ENOMEM;
  if (!status)
    status = add_absent(json_object_get(merged, "paths"), json_object_get(train_document, "paths"));
  if (!status)
    status = add_absent(schemas_of(merged), schemas_of(train_document));
  if (status) {
    json_decref(merged);
    return status;
  }
  *document = merged;
  return 0;
}

char *pn_schema_dump(const json_t *document) {
  pn_buf text;
  pn_buf_init(&text, DOCUMENT_LIMIT);
  char *result =
      pn_json_write(document, PN_JSON_COMPACT, &text) ? NULL : pn_buf_take(&text);
  pn_buf_free(&text);
  return result;
}
