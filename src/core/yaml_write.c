/* JSON values as YAML documents. See yaml_write.h.
 *
 * The value is walked once, each node turned into libyaml's events (mapping, sequence,
 * scalar); libyaml's emitter writes them, choosing indentation and escapes. Lines are
 * never folded (an image reference or a URL stays on one line). */
#include "core/yaml_write.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Nesting deeper than this is refused rather than walked (manifests are a few levels). */
#define DEPTH_MAX 64

static int write_handler(void *data, unsigned char *buffer, size_t size) {
  return pn_buf_append(data, buffer, size) == 0;
}

static int emit(yaml_emitter_t *emitter, yaml_event_t *event) {
  return yaml_emitter_emit(emitter, event) ? 0 : PN_ENOMEM;
}

/* A scalar, double-quoted (a string) or plain (a number, a boolean, null, a safe key). */
static int emit_scalar(yaml_emitter_t *emitter, const char *text, size_t length, int quoted) {
  yaml_event_t event;
  if (!yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)text, (int)length,
                                    !quoted, quoted,
                                    quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                           : YAML_PLAIN_SCALAR_STYLE))
    return PN_ENOMEM;
  return emit(emitter, &event);
}

/* Whether a key reads back as the same string when written plain, under YAML 1.1 too: a
 * letter, then letters, digits and "._/-", and none of the words 1.1 reads as booleans
 * or null. Kubernetes' keys ("nvidia.com/gpu", "apiVersion") are; others are quoted. */
static int plain_key(const char *key) {
  static const char *const words[] = {"y",     "n",     "yes",  "no",   "on", "off",
                                      "true",  "false", "null", NULL};
  if (!((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z')))
    return 0;
  for (const char *c = key; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
          *c == '.' || *c == '_' || *c == '/' || *c == '-'))
      return 0;
  for (size_t i = 0; words[i]; i++)
    if (strcasecmp(key, words[i]) == 0)
      return 0;
  return 1;
}

static int emit_key(yaml_emitter_t *emitter, const char *key) {
  return emit_scalar(emitter, key, strlen(key), !plain_key(key));
}

static int emit_value(yaml_emitter_t *emitter, const json_t *value, int depth) {
  if (depth > DEPTH_MAX)
    return PN_EINVAL;
  yaml_event_t event;
  char number[64];
  int rc = 0;
  switch (json_typeof(value)) {
  case JSON_OBJECT: {
    if (!yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE))
      return PN_ENOMEM;
    rc = emit(emitter, &event);
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)value, key, member) {
      if (rc == 0)
        rc = emit_key(emitter, key);
      if (rc == 0)
        rc = emit_value(emitter, member, depth + 1);
    }
    if (rc == 0 && !yaml_mapping_end_event_initialize(&event))
      rc = PN_ENOMEM;
    return rc == 0 ? emit(emitter, &event) : rc;
  }
  case JSON_ARRAY: {
    if (!yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE))
      return PN_ENOMEM;
    rc = emit(emitter, &event);
    size_t index;
    json_t *item;
    json_array_foreach(value, index, item) {
      if (rc == 0)
        rc = emit_value(emitter, item, depth + 1);
    }
    if (rc == 0 && !yaml_sequence_end_event_initialize(&event))
      rc = PN_ENOMEM;
    return rc == 0 ? emit(emitter, &event) : rc;
  }
  case JSON_STRING:
    return emit_scalar(emitter, json_string_value(value), json_string_length(value), 1);
  case JSON_INTEGER:
    snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    return emit_scalar(emitter, number, strlen(number), 0);
  case JSON_REAL:
    if (!isfinite(json_real_value(value)))
      return PN_EINVAL;
    snprintf(number, sizeof number, "%.17g", json_real_value(value));
    return emit_scalar(emitter, number, strlen(number), 0);
  case JSON_TRUE:
    return emit_scalar(emitter, "true", 4, 0);
  case JSON_FALSE:
    return emit_scalar(emitter, "false", 5, 0);
  case JSON_NULL:
    return emit_scalar(emitter, "null", 4, 0);
  }
  return PN_EINVAL;
}

static int emit_documents(yaml_emitter_t *emitter, const json_t *documents) {
  yaml_event_t event;
  if (!yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING))
    return PN_ENOMEM;
  int rc = emit(emitter, &event);
  size_t index;
  json_t *document;
  json_array_foreach(documents, index, document) {
    if (rc == 0 && !yaml_document_start_event_initialize(&event, NULL, NULL, NULL, index == 0))
      rc = PN_ENOMEM;
    if (rc == 0)
      rc = emit(emitter, &event);
    if (rc == 0)
      rc = emit_value(emitter, document, 0);
    if (rc == 0 && !yaml_document_end_event_initialize(&event, 1))
      rc = PN_ENOMEM;
    if (rc == 0)
      rc = emit(emitter, &event);
  }
  if (rc == 0 && !yaml_stream_end_event_initialize(&event))
    rc = PN_ENOMEM;
  return rc == 0 ? emit(emitter, &event) : rc;
}

int pn_yaml_write_documents(const json_t *documents, pn_buf *out) {
  if (!json_is_array(documents))
    return PN_EINVAL;
  yaml_emitter_t emitter;
  if (!yaml_emitter_initialize(&emitter))
    return PN_ENOMEM;
  yaml_emitter_set_output(&emitter, write_handler, out);
  yaml_emitter_set_unicode(&emitter, 1);
  yaml_emitter_set_width(&emitter, -1);
  yaml_emitter_set_indent(&emitter, 2);
  int rc = emit_documents(&emitter, documents);
  if (rc == 0 && !yaml_emitter_flush(&emitter))
    rc = PN_ENOMEM;
  yaml_emitter_delete(&emitter);
  if (rc < 0 && pn_buf_error(out) < 0)
    rc = pn_buf_error(out);
  return rc;
}
