/* Input validation against a model's OpenAPI document, as Cog C's server does it.
 *
 * Cog C hands the Input component ($refs inlined) to a JSON Schema validator and turns
 * each violation into a 422 entry with the validator's message. pinion does the same in
 * C for the subset of JSON Schema that schema generators emit: type, enum, allOf, anyOf,
 * minimum/maximum, minLength/maxLength (in code points), pattern (an unanchored PCRE2
 * search), items, plus OpenAPI's nullable. The component is compiled once into a tree
 * of nodes (one per schema, regexes compiled) so that each request only walks it.
 * pinion's decisions apply: explicit null is accepted for nullable inputs and for
 * optional inputs without a default, and absent inputs get their default or null. */
#include "schema/validate.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* $ref chains and nested items deeper than this are taken for a cycle. */
#define MAX_SCHEMA_DEPTH 32
/* Messages quote the offending value; the request body's ceiling bounds it. */
#define MESSAGE_LIMIT (64u * 1024 * 1024)

enum json_kind {
  KIND_NULL = 1,
  KIND_BOOLEAN = 2,
  KIND_INTEGER = 4,
  KIND_NUMBER = 8,
  KIND_STRING = 16,
  KIND_ARRAY = 32,
  KIND_OBJECT = 64,
};

static const struct {
  const char *name;
  unsigned kind;
} type_names[] = {
    {"null", KIND_NULL},     {"boolean", KIND_BOOLEAN}, {"integer", KIND_INTEGER},
    {"number", KIND_NUMBER}, {"string", KIND_STRING},   {"array", KIND_ARRAY},
    {"object", KIND_OBJECT},
};

typedef struct schema_node schema_node;
struct schema_node {
  unsigned types;        /* allowed kinds; 0 when the schema has no "type" */
  const json_t *type;    /* the "type" keyword as written, for messages */
  const char *type_name; /* the single type's name, else NULL */
  const char *format;
  int nullable;
  int secret;
  const json_t *enum_values;
  const json_t *minimum;
  const json_t *maximum;
  const json_t *min_length;
  const json_t *max_length;
  const char *pattern_text;
  pcre2_code *pattern;
  schema_node *items;
  schema_node **all_of;
  size_t all_of_count;
  schema_node **any_of;
  size_t any_of_count;
};

typedef struct input_rule {
  pn_schema_input info;
  schema_node *node;
  const json_t *default_value; /* NULL when the input has none */
  long order;                  /* x-order, or LONG_MAX when absent */
  size_t position;             /* position in `properties`, to keep the sort stable */
} input_rule;

struct pn_schema_validator {
  json_t *document; /* a private copy; every borrowed pointer below points into it */
  pcre2_general_context *pcre;
  input_rule *inputs;
  size_t count;
  const json_t *required;
};

/* ---- compiling ---------------------------------------------------------------- */

static void *pcre_alloc(size_t size, void *unused) { return pn_malloc(size); }
static void pcre_free(void *pointer, void *unused) { pn_free(pointer); }

static void node_free(schema_node *node) {
  if (!node)
    return;
  pcre2_code_free(node->pattern);
  node_free(node->items);
  for (size_t i = 0; i < node->all_of_count; i++)
    node_free(node->all_of[i]);
  for (size_t i = 0; i < node->any_of_count; i++)
    node_free(node->any_of[i]);
  pn_free(node->all_of);
  pn_free(node->any_of);
  pn_free(node);
}

typedef struct schema_compiler {
  const json_t *schemas; /* components.schemas, for $ref */
  pcre2_general_context *pcre;
  char *error;
} schema_compiler;

static int compile_fail(schema_compiler *compiler, const char *format, const char *detail) {
  compiler->error = pn_strfmt(format, detail);
  return compiler->error ? PN_EINVAL : PN_ENOMEM;
}

static int compile_node(schema_compiler *compiler, const json_t *schema, int depth,
                        schema_node **out);

static int compile_list(schema_compiler *compiler, const json_t *list, int depth,
                        schema_node ***nodes, size_t *count) {
  if (!json_is_array(list))
    return compile_fail(compiler, "%s must be an array", "allOf/anyOf");
  *nodes = pn_calloc(json_array_size(list), sizeof **nodes);
  if (!*nodes)
    return PN_ENOMEM;
  size_t index;
  const json_t *member;
  json_array_foreach(list, index, member) {
    int status = compile_node(compiler, member, depth + 1, &(*nodes)[index]);
    (*count)++; /* a half-built node is freed with the rest */
    if (status)
      return status;
  }
  return 0;
}

static int compile_type(schema_compiler *compiler, schema_node *node, const json_t *type) {
  node->type = type;
  size_t count = json_is_array(type) ? json_array_size(type) : 1;
  for (size_t index = 0; index < count; index++) {
    const json_t *entry = json_is_array(type) ? json_array_get(type, index) : type;
    const char *name = json_string_value(entry);
    size_t found = 0;
    while (name && found < sizeof type_names / sizeof *type_names &&
           strcmp(type_names[found].name, name) != 0)
      found++;
    if (!name || found == sizeof type_names / sizeof *type_names)
      return compile_fail(compiler, "unsupported type keyword: %s", name ? name : "non-string");
    node->types |= type_names[found].kind;
    if (count == 1)
      node->type_name = type_names[found].name;
  }
  return 0;
}

static int compile_pattern(schema_compiler *compiler, schema_node *node, const json_t *pattern) {
  node->pattern_text = json_string_value(pattern);
  if (!node->pattern_text)
    return compile_fail(compiler, "%s must be a string", "pattern");
  pcre2_compile_context *context = pcre2_compile_context_create(compiler->pcre);
  if (!context)
    return PN_ENOMEM;
  int code;
  PCRE2_SIZE offset;
  node->pattern = pcre2_compile((PCRE2_SPTR)node->pattern_text, json_string_length(pattern),
                                PCRE2_UTF | PCRE2_UCP, &code, &offset, context);
  pcre2_compile_context_free(context);
  if (node->pattern)
    return 0;
  if (code == PCRE2_ERROR_HEAPLIMIT || code == PCRE2_ERROR_NOMEMORY)
    return PN_ENOMEM;
  PCRE2_UCHAR reason[160];
  pcre2_get_error_message(code, reason, sizeof reason);
  compiler->error = pn_strfmt("invalid pattern \"%s\": %s", node->pattern_text, (char *)reason);
  return compiler->error ? PN_EINVAL : PN_ENOMEM;
}

static int is_non_negative_integer(const json_t *value) {
  return json_is_integer(value) && json_integer_value(value) >= 0;
}

/* Resolves "#/components/schemas/NAME"; other references are not produced by any
 * schema generator pinion reads. */
static int resolve_ref(schema_compiler *compiler, const json_t *ref, const json_t **target) {
  static const char prefix[] = "#/components/schemas/";
  const char *text = json_string_value(ref);
  if (!text || strncmp(text, prefix, sizeof prefix - 1) != 0)
    return compile_fail(compiler, "unsupported $ref: %s", text ? text : "non-string");
  *target = json_object_get(compiler->schemas, text + sizeof prefix - 1);
  if (!json_is_object(*target))
    return compile_fail(compiler, "$ref to a missing component: %s", text);
  return 0;
}

static int compile_keywords(schema_compiler *compiler, schema_node *node, const json_t *schema,
                            int depth) {
  const json_t *value;
  int status = 0;
  if ((value = json_object_get(schema, "type")))
    status = compile_type(compiler, node, value);
  node->format = json_string_value(json_object_get(schema, "format"));
  node->nullable = json_is_true(json_object_get(schema, "nullable"));
  node->secret = json_is_true(json_object_get(schema, "x-cog-secret"));
  if (!status && (value = json_object_get(schema, "enum"))) {
    if (!json_is_array(value))
      return compile_fail(compiler, "%s must be an array", "enum");
    node->enum_values = value;
  }
  node->minimum = json_object_get(schema, "minimum");
  node->maximum = json_object_get(schema, "maximum");
  if ((node->minimum && !json_is_number(node->minimum)) ||
      (node->maximum && !json_is_number(node->maximum)))
    return compile_fail(compiler, "%s must be numbers", "minimum and maximum");
  node->min_length = json_object_get(schema, "minLength");
  node->max_length = json_object_get(schema, "maxLength");
  if ((node->min_length && !is_non_negative_integer(node->min_length)) ||
      (node->max_length && !is_non_negative_integer(node->max_length)))
    return compile_fail(compiler, "%s must be non-negative integers", "minLength and maxLength");
  if (!status && (value = json_object_get(schema, "pattern")))
    status = compile_pattern(compiler, node, value);
  if (!status && (value = json_object_get(schema, "items")))
    status = compile_node(compiler, value, depth + 1, &node->items);
  if (!status && (value = json_object_get(schema, "allOf")))
    status = compile_list(compiler, value, depth, &node->all_of, &node->all_of_count);
  if (!status && (value = json_object_get(schema, "anyOf")))
    status = compile_list(compiler, value, depth, &node->any_of, &node->any_of_count);
  return status;
}

static int compile_node(schema_compiler *compiler, const json_t *schema, int depth,
                        schema_node **out) {
  *out = NULL;
  if (depth > MAX_SCHEMA_DEPTH)
    return compile_fail(compiler, "%s", "schema nested too deeply (a $ref cycle?)");
  if (!json_is_object(schema))
    return compile_fail(compiler, "%s", "a schema must be an object");
  const json_t *ref = json_object_get(schema, "$ref");
  if (ref) {
    const json_t *target;
    int status = resolve_ref(compiler, ref, &target);
    return status ? status : compile_node(compiler, target, depth + 1, out);
  }
  schema_node *node = pn_calloc(1, sizeof *node);
  if (!node)
    return PN_ENOMEM;
  *out = node;
  return compile_keywords(compiler, node, schema, depth);
}

/* The type an input's value has, looking through allOf (choices point at an enum). */
static const schema_node *typed_node(const schema_node *node) {
  if (!node->type_name && node->all_of_count == 1)
    return node->all_of[0];
  return node;
}

static int name_in(const json_t *names, const char *name) {
  size_t index;
  const json_t *entry;
  json_array_foreach(names, index, entry) {
    if (json_is_string(entry) && strcmp(json_string_value(entry), name) == 0)
      return 1;
  }
  return 0;
}

static void describe_input(input_rule *rule, const json_t *required) {
  const schema_node *typed = typed_node(rule->node);
  rule->info.type = typed->type_name;
  if (typed->items)
    rule->info.item_type = typed_node(typed->items)->type_name;
  const char *format = typed->format ? typed->format : typed->items ? typed->items->format : NULL;
  rule->info.is_file = format && strcmp(format, "uri") == 0;
  rule->info.is_secret = typed->secret;
  rule->info.required = name_in(required, rule->info.name);
  rule->info.nullable = rule->node->nullable;
}

static int compare_rules(const void *a, const void *b) {
  const input_rule *left = a, *right = b;
  if (left->order != right->order)
    return left->order < right->order ? -1 : 1;
  return left->position < right->position ? -1 : left->position > right->position;
}

static int compile_inputs(pn_schema_validator *validator, schema_compiler *compiler,
                          const json_t *component) {
  const json_t *properties = json_object_get(component, "properties");
  if (properties && !json_is_object(properties))
    return compile_fail(compiler, "%s must be an object", "properties");
  validator->required = json_object_get(component, "required");
  if (validator->required && !json_is_array(validator->required))
    return compile_fail(compiler, "%s must be an array", "required");
  validator->inputs = pn_calloc(json_object_size(properties), sizeof *validator->inputs);
  if (!validator->inputs)
    return PN_ENOMEM;
  const char *name;
  const json_t *schema;
  json_object_foreach((json_t *)properties, name, schema) {
    input_rule *rule = &validator->inputs[validator->count];
    int status = compile_node(compiler, schema, 0, &rule->node);
    if (status) {
      node_free(rule->node);
      return status;
    }
    validator->count++;
    rule->info.name = name;
    rule->default_value = json_object_get(schema, "default");
    const json_t *order = json_object_get(schema, "x-order");
    rule->order = json_is_integer(order) ? (long)json_integer_value(order) : LONG_MAX;
    rule->position = validator->count;
    describe_input(rule, validator->required);
  }
  qsort(validator->inputs, validator->count, sizeof *validator->inputs, compare_rules);
  return 0;
}

int pn_schema_validator_new(const json_t *document, const char *component,
                            pn_schema_validator **out, char **error) {
  *out = NULL;
  *error = NULL;
  pn_schema_validator *validator = pn_calloc(1, sizeof *validator);
  if (!validator)
    return PN_ENOMEM;
  schema_compiler compiler = {0};
  int status = PN_ENOMEM;
  validator->document = json_deep_copy(document);
  validator->pcre = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
  if (validator->document && validator->pcre) {
    compiler.pcre = validator->pcre;
    compiler.schemas =
        json_object_get(json_object_get(validator->document, "components"), "schemas");
    const json_t *schema = json_object_get(compiler.schemas, component);
    if (json_is_object(schema))
      status = compile_inputs(validator, &compiler, schema);
    else
      status = compile_fail(&compiler, "the document has no %s component", component);
  }
  if (status) {
    pn_schema_validator_free(validator);
    *error = compiler.error;
    return status;
  }
  *out = validator;
  return 0;
}

void pn_schema_validator_free(pn_schema_validator *validator) {
  if (!validator)
    return;
  for (size_t i = 0; i < validator->count; i++)
    node_free(validator->inputs[i].node);
  pn_free(validator->inputs);
  pcre2_general_context_free(validator->pcre);
  json_decref(validator->document);
  pn_free(validator);
}

/* ---- checking ----------------------------------------------------------------- */

/* Where violations go: entries for a 422 body, or (for anyOf members) only a count. */
typedef struct error_sink {
  json_t *detail; /* NULL: count only */
  size_t count;
  const pn_schema_validator *validator;
} error_sink;

static unsigned kind_of(const json_t *value) {
  switch (json_typeof(value)) {
  case JSON_NULL:
    return KIND_NULL;
  case JSON_TRUE:
  case JSON_FALSE:
    return KIND_BOOLEAN;
  case JSON_INTEGER:
    return KIND_INTEGER | KIND_NUMBER;
  case JSON_REAL: {
    double number = json_real_value(value);
    /* JSON Schema: a number with a zero fractional part is an integer. */
    return floor(number) == number ? KIND_INTEGER | KIND_NUMBER : KIND_NUMBER;
  }
  case JSON_STRING:
    return KIND_STRING;
  case JSON_ARRAY:
    return KIND_ARRAY;
  case JSON_OBJECT:
    return KIND_OBJECT;
  }
  return 0;
}

static int compare_numbers(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return (x > y) - (x < y);
  }
  double x = json_number_value(a), y = json_number_value(b);
  return (x > y) - (x < y);
}

/* JSON Schema equality: numbers compare by value (2 equals 2.0). */
static int values_equal(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b))
    return compare_numbers(a, b) == 0;
  return json_equal((json_t *)a, (json_t *)b);
}

static size_t code_points(const json_t *string) {
  const unsigned char *text = (const unsigned char *)json_string_value(string);
  size_t length = json_string_length(string), count = 0;
  for (size_t i = 0; i < length; i++)
    count += (text[i] & 0xC0) != 0x80;
  return count;
}

/* Adds an entry whose message is the rendered `value` followed by `format`. */
static int report(error_sink *sink, const char *path, const json_t *value, const json_t *quoted,
                  const char *format, ...) __attribute__((format(printf, 5, 6)));

static int report(error_sink *sink, const char *path, const json_t *value, const json_t *quoted,
                  const char *format, ...) {
  sink->count++;
  if (!sink->detail)
    return 0;
  pn_buf message;
  pn_buf_init(&message, MESSAGE_LIMIT);
  int status = pn_json_write(value, PN_JSON_SERDE_NUMBERS, &message);
  if (!status) {
    va_list args;
    va_start(args, format);
    status = pn_buf_vappendf(&message, format, args);
    va_end(args);
  }
  if (!status && quoted)
    status = pn_json_write(quoted, PN_JSON_SERDE_NUMBERS, &message);
  if (status) {
    pn_buf_free(&message);
    return status;
  }
  json_t *entry = json_pack("{s:[s,s,s],s:s%,s:s}", "loc", "body", "input", path, "msg",
                            message.data, message.length, "type", "value_error");
  pn_buf_free(&message);
  return entry && !json_array_append_new(sink->detail, entry) ? 0 : PN_ENOMEM;
}

static int check_node(error_sink *sink, const schema_node *node, const json_t *value,
                      const char *path);

static int check_type(error_sink *sink, const schema_node *node, const json_t *value,
                      const char *path) {
  if (!node->types || (node->types & kind_of(value)))
    return 0;
  if (node->type_name)
    return report(sink, path, value, NULL, " is not of type \"%s\"", node->type_name);
  pn_buf names;
  pn_buf_init(&names, MESSAGE_LIMIT);
  int status = 0;
  for (size_t i = 0; !status && i < json_array_size(node->type); i++)
    status = pn_buf_appendf(&names, "%s\"%s\"", i ? ", " : "",
                            json_string_value(json_array_get(node->type, i)));
  if (!status)
    status = report(sink, path, value, NULL, " is not of types %s", names.data);
  pn_buf_free(&names);
  return status;
}

static int check_enum(error_sink *sink, const schema_node *node, const json_t *value,
                      const char *path) {
  if (!node->enum_values)
    return 0;
  size_t index;
  const json_t *option;
  json_array_foreach(node->enum_values, index, option) {
    if (values_equal(option, value))
      return 0;
  }
  return report(sink, path, value, node->enum_values, " is not one of ");
}

static int check_number(error_sink *sink, const schema_node *node, const json_t *value,
                        const char *path) {
  int status = 0;
  if (node->minimum && compare_numbers(value, node->minimum) < 0)
    status = report(sink, path, value, node->minimum, " is less than the minimum of ");
  if (!status && node->maximum && compare_numbers(value, node->maximum) > 0)
    status = report(sink, path, value, node->maximum, " is greater than the maximum of ");
  return status;
}

static int matches(const error_sink *sink, const schema_node *node, const json_t *value) {
  pcre2_match_data *match =
      pcre2_match_data_create_from_pattern(node->pattern, sink->validator->pcre);
  if (!match)
    return PN_ENOMEM;
  int rc = pcre2_match(node->pattern, (PCRE2_SPTR)json_string_value(value),
                       json_string_length(value), 0, 0, match, NULL);
  pcre2_match_data_free(match);
  if (rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT)
    return PN_ENOMEM;
  /* Other failures (a match limit hit) count as no match, never as a pass. */
  return rc >= 0;
}

static int check_string(error_sink *sink, const schema_node *node, const json_t *value,
                        const char *path) {
  int status = 0;
  if (node->min_length || node->max_length) {
    size_t length = code_points(value);
    json_int_t limit;
    if (node->min_length && length < (size_t)(limit = json_integer_value(node->min_length)))
      status =
          report(sink, path, value, NULL, " is shorter than %" JSON_INTEGER_FORMAT " character%s",
                 limit, limit == 1 ? "" : "s");
    if (!status && node->max_length &&
        length > (size_t)(limit = json_integer_value(node->max_length)))
      status =
          report(sink, path, value, NULL, " is longer than %" JSON_INTEGER_FORMAT " character%s",
                 limit, limit == 1 ? "" : "s");
  }
  if (!status && node->pattern) {
    int matched = matches(sink, node, value);
    if (matched < 0)
      return matched;
    if (!matched)
      status = report(sink, path, value, NULL, " does not match \"%s\"", node->pattern_text);
  }
  return status;
}

static int check_items(error_sink *sink, const schema_node *node, const json_t *value,
                       const char *path) {
  size_t index;
  const json_t *item;
  json_array_foreach(value, index, item) {
    char *item_path = pn_strfmt("%s/%zu", path, index);
    if (!item_path)
      return PN_ENOMEM;
    int status = check_node(sink, node->items, item, item_path);
    pn_free(item_path);
    if (status)
      return status;
  }
  return 0;
}

static int check_any_of(error_sink *sink, const schema_node *node, const json_t *value,
                        const char *path) {
  for (size_t i = 0; i < node->any_of_count; i++) {
    error_sink member = {.validator = sink->validator};
    int status = check_node(&member, node->any_of[i], value, path);
    if (status)
      return status;
    if (member.count == 0)
      return 0;
  }
  return report(sink, path, value, NULL, " is not valid under any of the given schemas");
}

/* Every keyword that applies is checked and each violation reported, as Cog C's
 * validator does; keywords about one kind of value ignore values of other kinds. */
static int check_node(error_sink *sink, const schema_node *node, const json_t *value,
                      const char *path) {
  if (node->nullable && json_is_null(value))
    return 0;
  unsigned kind = kind_of(value);
  int status = check_type(sink, node, value, path);
  if (!status)
    status = check_enum(sink, node, value, path);
  if (!status && (kind & KIND_NUMBER))
    status = check_number(sink, node, value, path);
  if (!status && kind == KIND_STRING)
    status = check_string(sink, node, value, path);
  if (!status && kind == KIND_ARRAY && node->items)
    status = check_items(sink, node, value, path);
  for (size_t i = 0; !status && i < node->all_of_count; i++)
    status = check_node(sink, node->all_of[i], value, path);
  if (!status && node->any_of_count)
    status = check_any_of(sink, node, value, path);
  return status;
}

/* Explicit null is accepted where omitting the input would give the predictor None. */
static int accepts_null(const input_rule *rule) {
  return rule->info.nullable || (!rule->info.required && !rule->default_value);
}

static int check_input(error_sink *sink, const input_rule *rule, const json_t *value) {
  if (json_is_null(value) && accepts_null(rule))
    return 0;
  return check_node(sink, rule->node, value, rule->info.name);
}

static int report_missing(error_sink *sink, const json_t *input) {
  size_t index;
  const json_t *name;
  json_array_foreach(sink->validator->required, index, name) {
    if (!json_is_string(name) || json_object_get(input, json_string_value(name)))
      continue;
    json_t *entry = json_pack("{s:[s,s,O],s:s,s:s}", "loc", "body", "input", name, "msg",
                              "Field required", "type", "value_error.missing");
    if (!entry || json_array_append_new(sink->detail, entry))
      return PN_ENOMEM;
  }
  return 0;
}

static int complete(const pn_schema_validator *validator, const json_t *input, json_t **coerced) {
  json_t *result = json_object();
  if (!result)
    return PN_ENOMEM;
  for (size_t i = 0; i < validator->count; i++) {
    const input_rule *rule = &validator->inputs[i];
    json_t *value = json_object_get(input, rule->info.name);
    if (value)
      json_incref(value);
    else if (rule->default_value)
      value = json_deep_copy(rule->default_value);
    else
      value = json_null();
    if (json_object_set_new(result, rule->info.name, value)) {
      json_decref(result);
      return PN_ENOMEM;
    }
  }
  *coerced = result;
  return 0;
}

int pn_schema_validate(const pn_schema_validator *validator, const json_t *input, json_t **coerced,
                       json_t **detail) {
  *coerced = NULL;
  *detail = NULL;
  error_sink sink = {.detail = json_array(), .validator = validator};
  if (!sink.detail)
    return PN_ENOMEM;
  int status = 0;
  if (input && !json_is_null(input) && !json_is_object(input)) {
    status = report(&sink, "__root__", input, NULL, " is not of type \"object\"");
  } else if (input && json_is_object(input)) {
    status = report_missing(&sink, input);
    for (size_t i = 0; !status && i < validator->count; i++) {
      const json_t *value = json_object_get(input, validator->inputs[i].info.name);
      if (value)
        status = check_input(&sink, &validator->inputs[i], value);
    }
  } else {
    status = report_missing(&sink, NULL);
  }
  if (!status && json_array_size(sink.detail) == 0)
    status = complete(validator, json_is_object(input) ? input : NULL, coerced);
  else if (!status) {
    *detail = json_incref(sink.detail);
    status = PN_EINVAL;
  }
  json_decref(sink.detail);
  return status;
}

static const input_rule *find_rule(const pn_schema_validator *validator, const char *name) {
  for (size_t i = 0; i < validator->count; i++)
    if (strcmp(validator->inputs[i].info.name, name) == 0)
      return &validator->inputs[i];
  return NULL;
}

int pn_schema_check_input(const pn_schema_validator *validator, const char *name,
                          const json_t *value, char **message) {
  *message = NULL;
  const input_rule *rule = find_rule(validator, name);
  if (!rule)
    return PN_ENOENT;
  error_sink sink = {.detail = json_array(), .validator = validator};
  if (!sink.detail)
    return PN_ENOMEM;
  int status = check_input(&sink, rule, value);
  if (!status && json_array_size(sink.detail) > 0) {
    const char *first = json_string_value(json_object_get(json_array_get(sink.detail, 0), "msg"));
    *message = pn_strdup(first);
    status = *message ? PN_EINVAL : PN_ENOMEM;
  }
  json_decref(sink.detail);
  return status;
}

size_t pn_schema_input_count(const pn_schema_validator *validator) { return validator->count; }

const pn_schema_input *pn_schema_input_at(const pn_schema_validator *validator, size_t index) {
  return index < validator->count ? &validator->inputs[index].info : NULL;
}

const pn_schema_input *pn_schema_input_find(const pn_schema_validator *validator,
                                            const char *name) {
  const input_rule *rule = find_rule(validator, name);
  return rule ? &rule->info : NULL;
}
