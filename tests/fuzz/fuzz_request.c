/* libFuzzer target for what `pinion serve` reads from a prediction request's body:
 * the envelope (serve/request.c), then `input` validated against a model's schema
 * (schema/validate.c) and checked for file inputs that are not URLs or data URIs
 * (serve/inputs.c), and the file name an input URL would be saved under. Input: the
 * body's bytes.
 *
 * Invariants: a body is either accepted with an object envelope whose fields have the
 * documented types, or refused with 400/422 and a detail; validation ends in a coerced
 * object or a non-empty list of problems; a file name derived from a URL is non-empty,
 * at most 200 bytes, without '/'. */
#include "core/alloc.h"
#include "core/webhook_events.h"
#include "schema/openapi.h"
#include "schema/validate.h"
#include "serve/inputs.h"
#include "serve/request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char signature_text[] =
    "{\"inputs\":["
    "{\"name\":\"prompt\",\"type\":{\"kind\":\"str\"}},"
    "{\"name\":\"image\",\"type\":{\"kind\":\"path\"}},"
    "{\"name\":\"masks\",\"type\":{\"kind\":\"list\",\"items\":{\"kind\":\"file\"}},"
    "\"has_default\":true,\"default\":null},"
    "{\"name\":\"steps\",\"type\":{\"kind\":\"int\"},\"has_default\":true,\"default\":4,"
    "\"ge\":1,\"le\":100}"
    "],\"output\":{\"kind\":\"str\"}}";

static pn_schema_validator *validator;

static void build_validator(void) {
  pn_alloc_install_json();
  json_t *signature = json_loads(signature_text, 0, NULL);
  json_t *document = NULL;
  char *error = NULL;
  if (!signature || pn_schema_build(signature, PN_SCHEMA_PREDICT, "0.22.0", &document, &error) ||
      pn_schema_validator_new(document, "Input", &validator, &error))
    abort();
  json_decref(document);
  json_decref(signature);
}

static void check_envelope(const pn_serve_request *request) {
  if (!json_is_object(request->body) || (request->events & ~(unsigned)PN_WEBHOOK_ALL))
    abort();
  if (request->context) {
    const char *key;
    json_t *value;
    json_object_foreach(request->context, key, value) {
      if (!json_is_string(value))
        abort();
    }
  }
}

static void check_file_name(const char *url) {
  char *name = pn_inputs_file_name(url);
  if (!name)
    return;
  size_t length = strlen(name);
  if (length == 0 || length > 200 || strchr(name, '/'))
    abort();
  pn_free(name);
}

static void check_input(json_t *input) {
  json_t *coerced = NULL, *detail = NULL;
  int status = pn_schema_validate(validator, input, &coerced, &detail);
  if (status == 0 && (!json_is_object(coerced) || detail))
    abort();
  if (status != 0 && (coerced || !json_is_array(detail) || json_array_size(detail) == 0))
    abort();
  if (status == 0) {
    json_t *remote = NULL;
    if (pn_inputs_check_remote(validator, coerced, &remote) < 0 &&
        (!json_is_array(remote) || json_array_size(remote) == 0))
      abort();
    json_decref(remote);
  }
  const char *key;
  json_t *value;
  json_object_foreach(json_is_object(input) ? input : NULL, key, value) {
    if (json_is_string(value))
      check_file_name(json_string_value(value));
  }
  json_decref(coerced);
  json_decref(detail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!validator)
    build_validator();
  pn_serve_request request;
  char *detail = NULL;
  int status = pn_serve_request_parse((const char *)data, size, &request, &detail);
  if (status == 0) {
    if (detail)
      abort();
    check_envelope(&request);
    json_t *input = request.input ? request.input : json_object();
    if (request.input)
      json_incref(input);
    check_input(input);
    json_decref(input);
    json_decref(request.body);
  } else if ((status != 400 && status != 422) || !detail || request.body) {
    abort();
  }
  pn_free(detail);
  return 0;
}
