/* Unit tests for schema/openapi.c, title.c and render.c: whole documents built from
 * signature descriptions in tests/unit/data/schema/ (NAME.signature.json -> NAME.json,
 * compared as JSON and as served text, so key order counts), the build errors, merging,
 * number rendering, and allocation failure at every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "schema/openapi.h"
#include "core/json.h"
#include "schema/title.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA "tests/unit/data/schema/"

static json_t *load(const char *path) {
  char *text = NULL;
  size_t length = 0;
  assert_int_equal(pn_fs_read(path, 1 << 20, &text, &length), 0);
  json_error_t error;
  json_t *value = json_loadb(text, length, 0, &error);
  pn_free(text);
  if (!value)
    fail_msg("%s:%d: %s", path, error.line, error.text);
  return value;
}

static json_t *load_case(const char *name, const char *suffix) {
  char *path = pn_strfmt(DATA "%s%s", name, suffix);
  json_t *value = load(path);
  pn_free(path);
  return value;
}

static void assert_same_document(json_t *built, json_t *expected) {
  char *built_text = pn_schema_dump(built);
  char *expected_text = pn_schema_dump(expected);
  assert_true(json_equal(built, expected));
  assert_string_equal(built_text, expected_text);
  pn_free(built_text);
  pn_free(expected_text);
}

static void assert_builds(const char *name, enum pn_schema_mode mode) {
  json_t *signature = load_case(name, ".signature.json");
  json_t *expected = load_case(name, ".json");
  json_t *document = NULL;
  char *error = NULL;
  int status = pn_schema_build(signature, mode, "0.22.0", &document, &error);
  if (status)
    fail_msg("%s: %s", name, error ? error : pn_strerror(status));
  assert_same_document(document, expected);
  json_decref(document);
  json_decref(expected);
  json_decref(signature);
}

static void worked_example_of_the_spec(void **state) {
  assert_builds("worked_example", PN_SCHEMA_PREDICT);
}
static void choices_of_integers_and_float_bounds(void **state) {
  assert_builds("choices_int", PN_SCHEMA_PREDICT);
}
static void concatenate_iterator_streaming_and_titles(void **state) {
  assert_builds("concatenate", PN_SCHEMA_PREDICT);
}
static void object_output_with_nested_fields(void **state) {
  assert_builds("object_output", PN_SCHEMA_PREDICT);
}
static void dict_of_output(void **state) { assert_builds("dict_output", PN_SCHEMA_PREDICT); }
static void lists_of_files(void **state) { assert_builds("list_output", PN_SCHEMA_PREDICT); }
static void optional_none_defaults_literal_secrets(void **state) {
  assert_builds("optional_inputs", PN_SCHEMA_PREDICT);
}
static void unions_and_list_constraints(void **state) {
  assert_builds("unions", PN_SCHEMA_PREDICT);
}
static void train_mode_names(void **state) { assert_builds("train", PN_SCHEMA_TRAIN); }

static void merge_adds_train_paths_and_components(void **state) {
  json_t *predict = load(DATA "worked_example.json");
  json_t *train = load(DATA "train.json");
  json_t *expected = load(DATA "merged.json");
  json_t *merged = NULL;
  assert_int_equal(pn_schema_merge(predict, train, &merged), 0);
  assert_same_document(merged, expected);
  json_decref(merged);
  json_t *not_a_document = json_string("x");
  assert_int_equal(pn_schema_merge(predict, not_a_document, &merged), PN_EINVAL);
  assert_null(merged);
  json_decref(not_a_document);
  json_decref(expected);
  json_decref(train);
  json_decref(predict);
}

/* Builds a one-input signature: `input_json` is the INPUT object, `output_json` TYPE. */
static int build_one(const char *input_json, const char *output_json, char **error) {
  char *text = pn_strfmt("{\"inputs\":[%s],\"output\":%s}", input_json, output_json);
  json_t *signature = json_loads(text, 0, NULL);
  pn_free(text);
  assert_non_null(signature);
  json_t *document = NULL;
  int status = pn_schema_build(signature, PN_SCHEMA_PREDICT, "0.22.0", &document, error);
  json_decref(signature);
  json_decref(document);
  return status;
}

static void assert_build_error(const char *input_json, const char *output_json,
                               const char *message) {
  char *error = NULL;
  assert_int_equal(build_one(input_json, output_json, &error), PN_EINVAL);
  assert_non_null(error);
  assert_string_equal(error, message);
  pn_free(error);
}

static void build_errors(void **state) {
  const char *str_output = "{\"kind\":\"str\"}";
  assert_build_error("{\"name\":\"x\",\"type\":{\"kind\":\"str\"},\"accept\":\"image/*\"}",
                     str_output, "accept is only valid on Path or File inputs (parameter 'x')");
  assert_build_error(
      "{\"name\":\"n\",\"type\":{\"kind\":\"int\"},\"has_default\":true,\"default\":1,\"ge\":2}",
      str_output,
      "Model schema is invalid: default of parameter 'n': 1 is less than the minimum of 2");
  assert_build_error("{\"name\":\"c\",\"type\":{\"kind\":\"str\"},\"has_default\":true,"
                     "\"default\":\"red\",\"choices\":[\"warm\",\"cool\"]}",
                     str_output,
                     "Model schema is invalid: default of parameter 'c': \"red\" is not one of "
                     "[\"warm\",\"cool\"]");
  assert_build_error("{\"name\":\"s\",\"type\":{\"kind\":\"str\"},\"has_default\":true,"
                     "\"default\":\"abc\",\"max_length\":2}",
                     str_output,
                     "Model schema is invalid: default of parameter 's': \"abc\" is longer than 2 "
                     "characters");
  assert_build_error("{\"name\":\"r\",\"type\":{\"kind\":\"str\"},\"regex\":\"(\"}", str_output,
                     "Model schema is invalid: invalid pattern \"(\": missing closing parenthesis");
  assert_build_error("{\"name\":\"l\",\"type\":{\"kind\":\"list\"}}", str_output,
                     "unsupported type: list");
  assert_build_error("{\"name\":\"l\",\"type\":{\"kind\":\"list\",\"items\":{\"kind\":\"list\","
                     "\"items\":{\"kind\":\"str\"}}}}",
                     str_output, "unsupported type: list");
  assert_build_error("{\"name\":\"i\",\"type\":{\"kind\":\"iterator\"}}", str_output,
                     "unsupported type: iterator");
  assert_build_error("{\"name\":\"u\",\"type\":{\"kind\":\"union\",\"members\":[{\"kind\":"
                     "\"str\"},{\"kind\":\"path\"}]}}",
                     str_output,
                     "unsupported type: union member path (unions may hold str, int, float, "
                     "bool, dict, Any and list[T])");
  assert_build_error("{\"name\":\"Status\",\"type\":{\"kind\":\"str\"},\"choices\":[\"a\"]}",
                     str_output,
                     "parameter 'Status': its choices would replace the Status component");
  assert_build_error("{\"name\":\"m\",\"type\":{\"kind\":\"literal\",\"values\":[\"a\",1]}}",
                     str_output,
                     "parameter 'm': choices must be a list of str, int, float or bool values of "
                     "the parameter's type");
  const char *input = "{\"name\":\"x\",\"type\":{\"kind\":\"str\"}}";
  assert_build_error(input, "{\"kind\":\"optional\",\"inner\":{\"kind\":\"str\"}}",
                     "unsupported output type: Optional is not allowed as a return type");
  assert_build_error(input, "{\"kind\":\"union\",\"members\":[{\"kind\":\"str\"}]}",
                     "unsupported type: union types are not supported as output");
  assert_build_error(input, "null", "unsupported type: (none)");
}

static void titles_follow_cog_c(void **state) {
  static const char *const cases[][2] = {
      {"num_outputs", "Num Outputs"},
      {"api_token", "Api Token"},
      {"myURLParam", "MyURLParam"},
      {"HTTP_url", "HTTP Url"},
      {"x2y_3d", "X2y 3d"},
      {"_x", " X"},
      {"a__b_", "A  B "},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *title = pn_schema_title(cases[i][0]);
    assert_string_equal(title, cases[i][1]);
    pn_free(title);
  }
}

static void assert_renders(const char *json_text, int style,
                           const char *expected) {
  json_t *value = json_loads(json_text, JSON_DECODE_ANY, NULL);
  assert_non_null(value);
  pn_buf text;
  pn_buf_init(&text, 1024);
  assert_int_equal(pn_json_write(value, style, &text), 0);
  assert_string_equal(text.data, expected);
  pn_buf_free(&text);
  json_decref(value);
}

static void numbers_and_strings_render_shortest(void **state) {
  assert_renders("[0.1,2.0,-0.5,1e300,1e-7,123456.789,0.0]", PN_JSON_COMPACT,
                 "[0.1,2,-0.5,1e+300,1e-7,123456.789,0]");
  assert_renders("[0.1,2.0,-0.5,1e300,1e-7,1e16,123456.789,0.0]", PN_JSON_SERDE_NUMBERS,
                 "[0.1,2.0,-0.5,1e300,1e-7,1e16,123456.789,0.0]");
  assert_renders("[0,7,-1,10,-120,9223372036854775807,-9223372036854775808]", PN_JSON_COMPACT,
                 "[0,7,-1,10,-120,9223372036854775807,-9223372036854775808]");
  assert_renders("[-0.0,0.0,-0]", PN_JSON_COMPACT, "[-0,0,0]");
  assert_renders("[-0.0,0.0,-0]", PN_JSON_SERDE_NUMBERS, "[-0.0,0.0,0]");
  assert_renders("{\"a\\\"b\":\"x\\n\\u0001\\u00e9/<>\"}", PN_JSON_COMPACT,
                 "{\"a\\\"b\":\"x\\n\\u0001\xc3\xa9/<>\"}");
}

/* The digits (no sign, point, leading or trailing zeros, exponent) of a number's text. */
static void significant_digits(const char *text, char *out) {
  size_t count = 0;
  for (; *text && *text != 'e' && *text != 'E'; text++)
    if (*text >= '0' && *text <= '9' && (count || *text != '0'))
      out[count++] = *text;
  while (count > 1 && out[count - 1] == '0')
    count--;
  out[count] = '\0';
}

/* The reference: every precision from 1 up, the first that reads back. */
static void reference_digits(double number, char *out) {
  char text[40];
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(text, sizeof text, "%.*e", precision - 1, number);
    if (strtod(text, NULL) == number)
      break;
  }
  significant_digits(text, out);
}

static void assert_shortest(double number) {
  json_t *value = json_real(number);
  pn_buf text;
  pn_buf_init(&text, 64);
  assert_int_equal(pn_json_write(value, PN_JSON_SERDE_NUMBERS, &text), 0);
  char written[40], expected[40];
  significant_digits(text.data, written);
  reference_digits(number < 0 ? -number : number, expected);
  if (strtod(text.data, NULL) != number || strcmp(written, expected) != 0)
    fail_msg("%.17g was written as %s: digits %s, the shortest that reads back is %s", number,
             text.data, written, expected);
  pn_buf_free(&text);
  json_decref(value);
}

/* The writer tries 15, 16 and 17 digits for a normal double and every precision for a
 * subnormal one: its digits are always the shortest that read back. */
static void reals_render_their_shortest_digits(void **state) {
  assert_renders("[0.097,0.0718,0.30000000000000004,0.3333333333333333,1.7976931348623157e308,"
                 "2.2250738585072014e-308,5e-324,4.9406564584124654e-320,123456789012345.6]",
                 PN_JSON_SERDE_NUMBERS,
                 "[0.097,0.0718,0.30000000000000004,0.3333333333333333,1.7976931348623157e308,"
                 "2.2250738585072014e-308,5e-324,4.9407e-320,123456789012345.6]");
  const double fixed[] = {0.1, 0.2, 1.0 / 3, 2.0 / 3, 1e23, 9007199254740993.0, 0.9999999999999999,
                          DBL_MIN, DBL_MIN * 1.5, DBL_MIN / 3, DBL_TRUE_MIN, DBL_MAX, 1e-5, 1e16};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    assert_shortest(fixed[i]);
  uint64_t state_bits = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 20000; i++) { /* random bit patterns: every exponent, subnormals too */
    state_bits ^= state_bits << 13, state_bits ^= state_bits >> 7, state_bits ^= state_bits << 17;
    double number;
    memcpy(&number, &state_bits, sizeof number);
    if (isfinite(number) && number != 0)
      assert_shortest(number);
    /* and numbers of a few decimal places, as a model's rounded outputs */
    assert_shortest((double)(int64_t)(state_bits % 2000001) / 10000.0 - 100.0 + 1e-4);
  }
}

static void build_survives_allocation_failure(void **state) {
  json_t *signature = load(DATA "optional_inputs.signature.json");
  int status = PN_ENOMEM;
  for (long count = 0; status == PN_ENOMEM; count++) {
    json_t *document = NULL;
    char *error = NULL;
    pn_alloc_fail_after(count);
    status = pn_schema_build(signature, PN_SCHEMA_PREDICT, "0.22.0", &document, &error);
    char *text = status ? NULL : pn_schema_dump(document);
    pn_alloc_fail_after(-1);
    if (status) {
      assert_int_equal(status, PN_ENOMEM);
      assert_null(document);
      assert_null(error);
    }
    json_decref(document);
    pn_free(text);
  }
  assert_int_equal(status, 0);
  json_decref(signature);
}

static void build_error_survives_allocation_failure(void **state) {
  json_t *signature = json_loads("{\"inputs\":[{\"name\":\"n\",\"type\":{\"kind\":\"int\"},"
                                 "\"has_default\":true,\"default\":1,\"ge\":2}],"
                                 "\"output\":{\"kind\":\"str\"}}",
                                 0, NULL);
  int status = PN_ENOMEM;
  for (long count = 0; status == PN_ENOMEM; count++) {
    json_t *document = NULL;
    char *error = NULL;
    pn_alloc_fail_after(count);
    status = pn_schema_build(signature, PN_SCHEMA_PREDICT, "0.22.0", &document, &error);
    pn_alloc_fail_after(-1);
    assert_null(document);
    pn_free(error);
  }
  assert_int_equal(status, PN_EINVAL);
  json_decref(signature);
}

static void merge_survives_allocation_failure(void **state) {
  json_t *predict = load(DATA "worked_example.json");
  json_t *train = load(DATA "train.json");
  int status = PN_ENOMEM;
  for (long count = 0; status == PN_ENOMEM; count++) {
    json_t *merged = NULL;
    pn_alloc_fail_after(count);
    status = pn_schema_merge(predict, train, &merged);
    pn_alloc_fail_after(-1);
    json_decref(merged);
  }
  assert_int_equal(status, 0);
  json_decref(train);
  json_decref(predict);
}

static int install_allocator(void **state) {
  pn_alloc_install_json();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(worked_example_of_the_spec),
      cmocka_unit_test(choices_of_integers_and_float_bounds),
      cmocka_unit_test(concatenate_iterator_streaming_and_titles),
      cmocka_unit_test(object_output_with_nested_fields),
      cmocka_unit_test(dict_of_output),
      cmocka_unit_test(lists_of_files),
      cmocka_unit_test(optional_none_defaults_literal_secrets),
      cmocka_unit_test(unions_and_list_constraints),
      cmocka_unit_test(train_mode_names),
      cmocka_unit_test(merge_adds_train_paths_and_components),
      cmocka_unit_test(build_errors),
      cmocka_unit_test(titles_follow_cog_c),
      cmocka_unit_test(numbers_and_strings_render_shortest),
      cmocka_unit_test(reals_render_their_shortest_digits),
      cmocka_unit_test(build_survives_allocation_failure),
      cmocka_unit_test(build_error_survives_allocation_failure),
      cmocka_unit_test(merge_survives_allocation_failure),
  };
  if (getenv("PN_TEST")) /* run one test by name: PN_TEST=train_mode_names */
    cmocka_set_test_filter(getenv("PN_TEST"));
  return cmocka_run_group_tests(tests, install_allocator, NULL);
}
