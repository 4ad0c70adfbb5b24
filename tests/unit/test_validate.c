/* Unit tests for schema/validate.c: the exact 422 detail arrays of cog-compat.md §4.6
 * for the §3.6 model, every keyword the generator emits, pinion's null and default
 * choices (§10 #8, #9), introspection, and allocation failure. The documents are the
 * expected generator outputs in tests/unit/data/schema/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "schema/openapi.h"
#include "schema/validate.h"

#include <stdlib.h>
#include <string.h>

#define DATA "tests/unit/data/schema/"

static pn_schema_validator *validator_for(const char *name, const char *component) {
  char *path = pn_strfmt(DATA "%s.json", name);
  char *text = NULL;
  size_t length = 0;
  assert_int_equal(pn_fs_read(path, 1 << 20, &text, &length), 0);
  json_t *document = json_loadb(text, length, 0, NULL);
  assert_non_null(document);
  pn_schema_validator *validator = NULL;
  char *error = NULL;
  int status = pn_schema_validator_new(document, component, &validator, &error);
  if (status)
    fail_msg("%s: %s", path, error);
  json_decref(document);
  pn_free(text);
  pn_free(path);
  return validator;
}

static json_t *parse(const char *text) {
  json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);
  if (!value)
    fail_msg("bad test JSON: %s", text);
  return value;
}

static void assert_json(const json_t *actual, const char *expected_text) {
  json_t *expected = parse(expected_text);
  char *actual_text = json_dumps(actual, JSON_COMPACT | JSON_PRESERVE_ORDER);
  char *wanted_text = json_dumps(expected, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_string_equal(actual_text, wanted_text);
  pn_free(actual_text);
  pn_free(wanted_text);
  json_decref(expected);
}

/* `input_text` must fail with exactly the entries of `detail_text`. */
static void assert_rejects(const pn_schema_validator *validator, const char *input_text,
                           const char *detail_text) {
  json_t *input = parse(input_text);
  json_t *coerced = NULL, *detail = NULL;
  assert_int_equal(pn_schema_validate(validator, input, &coerced, &detail), PN_EINVAL);
  assert_null(coerced);
  assert_json(detail, detail_text);
  json_decref(detail);
  json_decref(input);
}

/* `input_text` must pass and come out as `coerced_text`, keys in the same order. */
static void assert_accepts(const pn_schema_validator *validator, const char *input_text,
                           const char *coerced_text) {
  json_t *input = parse(input_text);
  json_t *coerced = NULL, *detail = NULL;
  assert_int_equal(pn_schema_validate(validator, input, &coerced, &detail), 0);
  assert_null(detail);
  assert_json(coerced, coerced_text);
  json_decref(coerced);
  json_decref(input);
}

#define LOC(name) "\"loc\":[\"body\",\"input\",\"" name "\"]"
#define ERROR(name, message) "{" LOC(name) ",\"msg\":\"" message "\",\"type\":\"value_error\"}"
#define MISSING(name) "{" LOC(name) ",\"msg\":\"Field required\",\"type\":\"value_error.missing\"}"

static void worked_example_table(void **state) {
  pn_schema_validator *validator = validator_for("worked_example", "Input");
  assert_rejects(validator, "{\"api_token\":\"k\"}", "[" MISSING("caption") "]");
  assert_rejects(validator, "{}", "[" MISSING("caption") "," MISSING("api_token") "]");
  assert_rejects(validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"steps\":\"abc\"}",
                 "[" ERROR("steps", "\\\"abc\\\" is not of type \\\"integer\\\"") "]");
  assert_rejects(validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"steps\":0}",
                 "[" ERROR("steps", "0 is less than the minimum of 1") "]");
  assert_rejects(validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"steps\":51}",
                 "[" ERROR("steps", "51 is greater than the maximum of 50") "]");
  assert_rejects(
      validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"palette\":\"neon\"}",
      "[" ERROR("palette", "\\\"neon\\\" is not one of [\\\"warm\\\",\\\"cool\\\"]") "]");
  /* pinion's choice #9: an explicit null for an optional input means None. */
  assert_accepts(validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"mask\":null}",
                 "{\"caption\":\"x\",\"steps\":20,\"palette\":\"warm\",\"mask\":null,"
                 "\"api_token\":\"k\"}");
  assert_rejects(validator, "{\"caption\":null,\"api_token\":\"k\"}",
                 "[" ERROR("caption", "null is not of type \\\"string\\\"") "]");
  pn_schema_validator_free(validator);
}

static void completes_drops_unknown_and_keeps_order(void **state) {
  pn_schema_validator *validator = validator_for("worked_example", "Input");
  assert_accepts(validator,
                 "{\"api_token\":\"k\",\"extra\":1,\"caption\":\"x\",\"steps\":2.0,"
                 "\"mask\":\"https://x/y.png\"}",
                 "{\"caption\":\"x\",\"steps\":2.0,\"palette\":\"warm\","
                 "\"mask\":\"https://x/y.png\",\"api_token\":\"k\"}");
  assert_rejects(validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"steps\":1e300}",
                 "[" ERROR("steps", "1e300 is greater than the maximum of 50") "]");
  assert_rejects(validator, "{\"caption\":\"x\",\"api_token\":\"k\",\"steps\":2.5}",
                 "[" ERROR("steps", "2.5 is not of type \\\"integer\\\"") "]");
  /* Missing fields come first, then the others in x-order. */
  assert_rejects(validator, "{\"palette\":5,\"steps\":true}",
                 "[" MISSING("caption") "," MISSING("api_token") "," ERROR("steps", "true is not "
                                                                                    "of type "
                                                                                    "\\\"integer\\"
                                                                                    "\"") "," ERROR(
                     "palette",
                     "5 is not of type "
                     "\\\"string\\\"") "," ERROR("palette", "5 is not one of "
                                                            "[\\\"warm\\\",\\\"cool\\\"]") "]");
  pn_schema_validator_free(validator);
}

static void non_object_and_absent_input(void **state) {
  pn_schema_validator *validator = validator_for("worked_example", "Input");
  assert_rejects(validator, "\"x\"",
                 "[" ERROR("__root__", "\\\"x\\\" is not of type \\\"object\\\"") "]");
  assert_rejects(validator, "[1,2]",
                 "[" ERROR("__root__", "[1,2] is not of type \\\"object\\\"") "]");
  assert_rejects(validator, "null", "[" MISSING("caption") "," MISSING("api_token") "]");
  json_t *coerced = NULL, *detail = NULL;
  assert_int_equal(pn_schema_validate(validator, NULL, &coerced, &detail), PN_EINVAL);
  assert_int_equal(json_array_size(detail), 2);
  json_decref(detail);
  pn_schema_validator_free(validator);
}

static void string_lengths_and_patterns(void **state) {
  pn_schema_validator *validator = validator_for("concatenate", "Input");
  assert_accepts(validator, "{\"prompt\":\"ab-12\"}",
                 "{\"prompt\":\"ab-12\",\"HTTP_url\":\"http://x\",\"x2y_3d\":-3,"
                 "\"myURLParam\":false,\"max__tokens_\":128}");
  assert_rejects(validator, "{\"prompt\":\"a\"}",
                 "[" ERROR("prompt", "\\\"a\\\" is shorter than 2 characters") "," ERROR(
                     "prompt", "\\\"a\\\" does not match \\\"^[a-z]{2}-[0-9]{2}$\\\"") "]");
  assert_rejects(
      validator, "{\"prompt\":\"abcdefghijklm\"}",
      "[" ERROR("prompt", "\\\"abcdefghijklm\\\" is longer than 12 characters") "," ERROR(
          "prompt", "\\\"abcdefghijklm\\\" does not match \\\"^[a-z]{2}-[0-9]{2}$\\\"") "]");
  /* Lengths count code points: "é" is one character (two bytes). */
  assert_rejects(validator, "{\"prompt\":\"\xc3\xa9\"}",
                 "[" ERROR("prompt", "\\\"\xc3\xa9\\\" is shorter than 2 characters") "," ERROR(
                     "prompt", "\\\"\xc3\xa9\\\" does not match \\\"^[a-z]{2}-[0-9]{2}$\\\"") "]");
  pn_schema_validator_free(validator);
}

static void unions_lists_and_null(void **state) {
  pn_schema_validator *validator = validator_for("unions", "Input");
  const char *ok = "\"value\":\"v\",\"maybe\":null,\"images\":[]";
  char *text = pn_strfmt("{%s}", ok);
  assert_accepts(validator, text,
                 "{\"value\":\"v\",\"maybe\":null,\"maybe_default\":null,\"words\":[\"a\",\"b\"],"
                 "\"weights\":[1,2.5],\"images\":[]}");
  pn_free(text);
  assert_rejects(validator, "{\"value\":5.5,\"maybe\":[\"x\"],\"images\":[]}",
                 "[" ERROR("value", "5.5 is not valid under any of the given schemas") "]");
  assert_rejects(validator, "{\"value\":null,\"maybe\":true,\"images\":[\"a\"]}",
                 "[" ERROR("value", "null is not valid under any of the given schemas") "," ERROR(
                     "maybe", "true is not valid under any of the given schemas") "]");
  /* List elements are checked by items; loc[2] is a JSON pointer without its "/".
   * minLength and minimum on the array itself do not apply to arrays (Cog C). */
  assert_rejects(validator,
                 "{\"value\":1,\"maybe\":1,\"images\":[],\"words\":[\"a\",3,[]],\"weights\":[-1]}",
                 "[" ERROR("words/1", "3 is not of type \\\"string\\\"") "," ERROR(
                     "words/2", "[] is not of type \\\"string\\\"") "]");
  assert_accepts(validator, "{\"value\":1,\"maybe\":1,\"images\":[],\"words\":[],\"weights\":[-1]}",
                 "{\"value\":1,\"maybe\":1,\"maybe_default\":null,\"words\":[],\"weights\":[-1],"
                 "\"images\":[]}");
  pn_schema_validator_free(validator);
}

static void optional_inputs_and_enums(void **state) {
  pn_schema_validator *validator = validator_for("optional_inputs", "Input");
  /* #8: seed has no default and is not required; absent or null, it is null. */
  assert_accepts(validator, "{\"key\":\"k\",\"anything\":{},\"seed\":null,\"count\":null}",
                 "{\"seed\":null,\"name\":null,\"count\":null,\"token\":null,\"key\":\"k\","
                 "\"mode\":\"fast\",\"level\":null,\"config\":{\"a\":[2],\"b\":1},"
                 "\"anything\":{},\"opaque\":null}");
  assert_rejects(
      validator, "{\"key\":\"k\",\"anything\":1,\"mode\":\"medium\",\"level\":4,\"seed\":\"1\"}",
      "[" ERROR("seed", "\\\"1\\\" is not of type \\\"integer\\\"") "," ERROR("mode", "\\\"medium\\"
                                                                                      "\" is not "
                                                                                      "one of "
                                                                                      "[\\\"fast\\"
                                                                                      "\","
                                                                                      "\\\"slow\\\""
                                                                                      "]") "," ERROR(
          "level", "4 is not "
                   "one of "
                   "[1,2,3]") "," ERROR("anything", "1 is not of type \\\"object\\\"") "]");
  pn_schema_validator_free(validator);
}

static void numbers_compare_by_value(void **state) {
  pn_schema_validator *validator = validator_for("choices_int", "Input");
  assert_accepts(validator, "{\"num_outputs\":4.0,\"temperature\":1}",
                 "{\"num_outputs\":4.0,\"scale\":1,\"temperature\":1}");
  assert_rejects(
      validator, "{\"num_outputs\":3,\"scale\":\"x\",\"temperature\":1.5}",
      "[" ERROR("num_outputs", "3 is not one of [1,2,4]") "," ERROR(
          "scale", "\\\"x\\\" is not of type \\\"number\\\"") "," ERROR("temperature",
                                                                        "1.5 is greater "
                                                                        "than the "
                                                                        "maximum of 1") "]");
  assert_rejects(validator, "{\"scale\":0.1}",
                 "[" ERROR("scale", "0.1 is less than the minimum of 0.5") "]");
  pn_schema_validator_free(validator);
}

static void introspection(void **state) {
  pn_schema_validator *validator = validator_for("worked_example", "Input");
  assert_int_equal(pn_schema_input_count(validator), 5);
  const pn_schema_input *caption = pn_schema_input_at(validator, 0);
  assert_string_equal(caption->name, "caption");
  assert_string_equal(caption->type, "string");
  assert_true(caption->required);
  const pn_schema_input *palette = pn_schema_input_find(validator, "palette");
  assert_string_equal(palette->type, "string");
  assert_false(palette->required);
  const pn_schema_input *mask = pn_schema_input_at(validator, 3);
  assert_string_equal(mask->name, "mask");
  assert_true(mask->is_file);
  assert_true(mask->nullable);
  const pn_schema_input *token = pn_schema_input_find(validator, "api_token");
  assert_true(token->is_secret);
  assert_true(token->required);
  assert_null(pn_schema_input_at(validator, 5));
  assert_null(pn_schema_input_find(validator, "nope"));
  pn_schema_validator_free(validator);

  validator = validator_for("unions", "Input");
  assert_null(pn_schema_input_find(validator, "value")->type);
  const pn_schema_input *images = pn_schema_input_find(validator, "images");
  assert_string_equal(images->type, "array");
  assert_string_equal(images->item_type, "string");
  assert_true(images->is_file);
  assert_false(pn_schema_input_find(validator, "words")->is_file);
  pn_schema_validator_free(validator);

  validator = validator_for("optional_inputs", "Input");
  assert_string_equal(pn_schema_input_find(validator, "level")->type, "integer");
  pn_schema_validator_free(validator);
}

/* A document served alphabetically (as Cog's runtime re-serialises it) is read in
 * x-order, and the training component is found by name. */
static void x_order_and_training_component(void **state) {
  json_t *document = parse("{\"components\":{\"schemas\":{\"TrainingInput\":{\"properties\":{"
                           "\"a\":{\"type\":\"string\",\"x-order\":1},"
                           "\"b\":{\"type\":\"integer\",\"x-order\":0,\"minimum\":1.0},"
                           "\"c\":{\"type\":\"string\",\"x-order\":2,\"pattern\":\"[a-z]+\"}},"
                           "\"required\":[\"a\",\"b\"],\"type\":\"object\"}}}}");
  pn_schema_validator *validator = NULL;
  char *error = NULL;
  assert_int_equal(pn_schema_validator_new(document, "TrainingInput", &validator, &error), 0);
  assert_string_equal(pn_schema_input_at(validator, 0)->name, "b");
  assert_rejects(validator, "{\"a\":1,\"b\":0}",
                 "[" ERROR("b", "0 is less than the minimum of 1.0") "," ERROR(
                     "a", "1 is not of type \\\"string\\\"") "]");
  /* A pattern is a search, as in JSON Schema: only an explicit ^ anchors it. */
  assert_accepts(validator, "{\"a\":\"x\",\"b\":1,\"c\":\"123abc\"}",
                 "{\"b\":1,\"a\":\"x\",\"c\":\"123abc\"}");
  assert_rejects(validator, "{\"a\":\"x\",\"b\":1,\"c\":\"123\"}",
                 "[" ERROR("c", "\\\"123\\\" does not match \\\"[a-z]+\\\"") "]");
  pn_schema_validator_free(validator);
  assert_int_equal(pn_schema_validator_new(document, "Input", &validator, &error), PN_EINVAL);
  assert_string_equal(error, "the document has no Input component");
  assert_null(validator);
  pn_free(error);
  json_decref(document);
}

static void unusable_documents(void **state) {
  static const char *const cases[][2] = {
      {"{\"x\":{\"$ref\":\"#/components/schemas/Gone\"}}",
       "$ref to a missing component: #/components/schemas/Gone"},
      {"{\"x\":{\"$ref\":\"other.json#/x\"}}", "unsupported $ref: other.json#/x"},
      {"{\"x\":{\"$ref\":\"#/components/schemas/Input\"}},"
       "\"items\":{\"$ref\":\"#/components/schemas/Input\"}",
       "schema nested too deeply (a $ref cycle?)"},
      {"{\"x\":{\"type\":\"text\"}}", "unsupported type keyword: text"},
      {"{\"x\":{\"pattern\":\"[\"}}",
       "invalid pattern \"[\": missing terminating ] for character class"},
      {"{\"x\":{\"minLength\":-1}}", "minLength and maxLength must be non-negative integers"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *text =
        pn_strfmt("{\"components\":{\"schemas\":{\"Input\":{\"properties\":%s}}}}", cases[i][0]);
    json_t *document = parse(text);
    pn_schema_validator *validator = NULL;
    char *error = NULL;
    assert_int_equal(pn_schema_validator_new(document, "Input", &validator, &error), PN_EINVAL);
    assert_string_equal(error, cases[i][1]);
    pn_free(error);
    json_decref(document);
    pn_free(text);
  }
}

static void survives_allocation_failure(void **state) {
  char *text = NULL;
  size_t length = 0;
  assert_int_equal(pn_fs_read(DATA "unions.json", 1 << 20, &text, &length), 0);
  json_t *document = json_loadb(text, length, 0, NULL);
  pn_free(text);
  static const char *const inputs[] = {
      "{\"value\":\"v\",\"maybe\":null,\"images\":[],\"extra\":1}",
      "{\"value\":5.5,\"maybe\":true,\"words\":[\"a\",3],\"images\":[1]}",
      "7",
  };
  for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
    json_t *input = parse(inputs[i]);
    int status = PN_ENOMEM;
    for (long count = 0; status == PN_ENOMEM; count++) {
      pn_schema_validator *validator = NULL;
      char *error = NULL;
      json_t *coerced = NULL, *detail = NULL;
      pn_alloc_fail_after(count);
      status = pn_schema_validator_new(document, "Input", &validator, &error);
      if (!status)
        status = pn_schema_validate(validator, input, &coerced, &detail);
      pn_alloc_fail_after(-1);
      assert_null(error);
      assert_true(status == PN_ENOMEM || (i == 0 ? status == 0 : status == PN_EINVAL));
      assert_true(status == PN_ENOMEM ? !coerced && !detail : !coerced != !detail);
      json_decref(coerced);
      json_decref(detail);
      pn_schema_validator_free(validator);
    }
    json_decref(input);
  }
  json_decref(document);
}

static int install_allocator(void **state) {
  pn_alloc_install_json();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(worked_example_table),
      cmocka_unit_test(completes_drops_unknown_and_keeps_order),
      cmocka_unit_test(non_object_and_absent_input),
      cmocka_unit_test(string_lengths_and_patterns),
      cmocka_unit_test(unions_lists_and_null),
      cmocka_unit_test(optional_inputs_and_enums),
      cmocka_unit_test(numbers_compare_by_value),
      cmocka_unit_test(introspection),
      cmocka_unit_test(x_order_and_training_component),
      cmocka_unit_test(unusable_documents),
      cmocka_unit_test(survives_allocation_failure),
  };
  if (getenv("PN_TEST")) /* run one test by name: PN_TEST=introspection */
    cmocka_set_test_filter(getenv("PN_TEST"));
  return cmocka_run_group_tests(tests, install_allocator, NULL);
}
