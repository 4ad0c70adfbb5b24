/* libFuzzer target for schema/validate.c: one validator, built once from a signature
 * with every kind of constraint the generator emits (bounds, lengths, a pattern,
 * choices, Literal, lists, unions, optional and nullable inputs), is fed each fuzz
 * input as the JSON text of a request's `input`. Whatever the input, validation must
 * either succeed with a completed object or fail with a well-formed 422 detail. */
#include "core/alloc.h"
#include "schema/openapi.h"
#include "schema/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char signature_text[] =
    "{\"inputs\":["
    "{\"name\":\"prompt\",\"type\":{\"kind\":\"str\"},\"min_length\":2,\"max_length\":12,"
    "\"regex\":\"^[a-z]{2}-[0-9]{2}$\"},"
    "{\"name\":\"steps\",\"type\":{\"kind\":\"int\"},\"has_default\":true,\"default\":20,"
    "\"ge\":1,\"le\":50},"
    "{\"name\":\"scale\",\"type\":{\"kind\":\"float\"},\"has_default\":true,\"default\":1.5,"
    "\"ge\":0.5,\"le\":2.5},"
    "{\"name\":\"palette\",\"type\":{\"kind\":\"str\"},\"has_default\":true,"
    "\"default\":\"warm\",\"choices\":[\"warm\",\"cool\"]},"
    "{\"name\":\"level\",\"type\":{\"kind\":\"optional\",\"inner\":{\"kind\":\"literal\","
    "\"values\":[1,2,3]}}},"
    "{\"name\":\"mask\",\"type\":{\"kind\":\"optional\",\"inner\":{\"kind\":\"path\"}},"
    "\"has_default\":true,\"default\":null},"
    "{\"name\":\"seed\",\"type\":{\"kind\":\"int\"},\"has_default\":true,\"default\":null},"
    "{\"name\":\"words\",\"type\":{\"kind\":\"list\",\"items\":{\"kind\":\"str\"}},"
    "\"min_length\":1},"
    "{\"name\":\"value\",\"type\":{\"kind\":\"union\",\"members\":[{\"kind\":\"int\"},"
    "{\"kind\":\"list\",\"items\":{\"kind\":\"float\"}}],\"nullable\":true}},"
    "{\"name\":\"config\",\"type\":{\"kind\":\"dict\"},\"has_default\":true,"
    "\"default\":{\"a\":1}},"
    "{\"name\":\"flag\",\"type\":{\"kind\":\"bool\"},\"has_default\":true,\"default\":false},"
    "{\"name\":\"token\",\"type\":{\"kind\":\"secret\"}}"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!validator)
    build_validator();
  json_t *input = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
  if (!input)
    return 0;
  json_t *coerced = NULL, *detail = NULL;
  int status = pn_schema_validate(validator, input, &coerced, &detail);
  if (status == 0 && (!json_is_object(coerced) || detail))
    abort();
  if (status != 0 && (coerced || !json_is_array(detail) || json_array_size(detail) == 0))
    abort();
  json_decref(coerced);
  json_decref(detail);
  json_decref(input);
  return 0;
}
