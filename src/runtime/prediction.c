/* The prediction object and its one place of release. See prediction.h. */
#include "runtime/prediction.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fs.h"

#include <string.h>

/* Room kept free for the truncation marker. */
#define LOGS_MARKER_ROOM 64

pn_prediction *pn_prediction_new(const char *id, json_t *input, json_t *context) {
  pn_prediction *prediction = pn_calloc(1, sizeof *prediction);
  if (!prediction)
    return NULL;
  prediction->refs = 1;
  prediction->id = pn_strdup(id);
  prediction->input = input ? json_deep_copy(input) : json_object();
  prediction->context = context && json_is_object(context) ? json_deep_copy(context) : json_object();
  prediction->metrics = json_object();
  prediction->files = json_array();
  pn_buf_init(&prediction->logs, PN_PREDICTION_LOGS_MAX);
  prediction->created_ns = pn_clock_realtime_ns();
  prediction->accepted_mono_ns = pn_clock_monotonic_ns();
  if (!prediction->id || !prediction->input || !prediction->context || !prediction->metrics ||
      !prediction->files) {
    pn_prediction_unref(prediction);
    return NULL;
  }
  return prediction;
}

pn_prediction *pn_prediction_ref(pn_prediction *prediction) {
  prediction->refs++;
  return prediction;
}

static void remove_folder(void *arg) { pn_fs_remove_tree(arg); }

/* A removal the pool did not get to (it is being freed) is done here and now. */
static void folder_removed(void *arg, int canceled) {
  if (canceled)
    pn_fs_remove_tree(arg);
  pn_free(arg);
}

void pn_prediction_unref(pn_prediction *prediction) {
  if (!prediction || --prediction->refs > 0)
    return;
  if (prediction->temp_dir &&
      (!prediction->pool ||
       pn_pool_submit(prediction->pool, remove_folder, folder_removed, prediction->temp_dir,
                      NULL) < 0)) {
    pn_fs_remove_tree(prediction->temp_dir);
    pn_free(prediction->temp_dir);
  }
  pn_free(prediction->id);
  json_decref(prediction->input);
  json_decref(prediction->context);
  json_decref(prediction->output);
  json_decref(prediction->files);
  json_decref(prediction->metrics);
  pn_buf_free(&prediction->logs);
  pn_free(prediction->error);
  pn_free(prediction->traceback);
  pn_free(prediction);
}

const char *pn_prediction_status_name(enum pn_prediction_status status) {
  switch (status) {
  case PN_PREDICTION_STARTING:
    return "starting";
  case PN_PREDICTION_PROCESSING:
    return "processing";
  case PN_PREDICTION_SUCCEEDED:
    return "succeeded";
  case PN_PREDICTION_FAILED:
    return "failed";
  case PN_PREDICTION_CANCELED:
    return "canceled";
  }
  return "unknown";
}

int pn_prediction_is_terminal(const pn_prediction *prediction) {
  return prediction->status >= PN_PREDICTION_SUCCEEDED;
}

double pn_prediction_predict_time(const pn_prediction *prediction) {
  uint64_t end = prediction->completed_mono_ns ? prediction->completed_mono_ns
                                               : pn_clock_monotonic_ns();
  return (double)(end - prediction->accepted_mono_ns) / 1e9;
}

/* Drops the oldest kept text (after the marker) so that `incoming` more bytes fit,
 * keeping at most half the ceiling so that this happens rarely, and rewrites the
 * marker. The kept text starts on a UTF-8 character boundary: logs become JSON. */
static void drop_oldest_logs(pn_prediction *prediction, size_t incoming) {
  pn_buf *logs = &prediction->logs;
  const char *kept = logs->data + prediction->logs_marker_length;
  size_t kept_length = logs->length - prediction->logs_marker_length;
  size_t keep = kept_length / 2;
  if (keep > PN_PREDICTION_LOGS_MAX - LOGS_MARKER_ROOM - incoming)
    keep = PN_PREDICTION_LOGS_MAX - LOGS_MARKER_ROOM - incoming;
  size_t start = kept_length - keep;
  while (start < kept_length && ((unsigned char)kept[start] & 0xC0) == 0x80)
    start++;
  prediction->logs_dropped += start;
  pn_buf fresh;
  pn_buf_init(&fresh, PN_PREDICTION_LOGS_MAX);
  pn_buf_appendf(&fresh, "[... %zu bytes truncated]\n", prediction->logs_dropped);
  size_t marker_length = fresh.length;
  pn_buf_append(&fresh, kept + start, kept_length - start);
  if (pn_buf_error(&fresh)) {
    pn_buf_reset(logs);
    prediction->logs_marker_length = 0;
    return;
  }
  pn_buf_free(logs);
  *logs = fresh;
  prediction->logs_marker_length = marker_length;
}

void pn_prediction_append_logs(pn_prediction *prediction, const char *text, size_t length) {
  /* Keep the newest text: a prediction that prints forever must not grow forever. */
  if (length > PN_PREDICTION_LOGS_MAX / 2) {
    prediction->logs_dropped += length - PN_PREDICTION_LOGS_MAX / 2;
    text += length - PN_PREDICTION_LOGS_MAX / 2;
    length = PN_PREDICTION_LOGS_MAX / 2;
    while (length && ((unsigned char)*text & 0xC0) == 0x80) {
      text++;
      length--;
      prediction->logs_dropped++;
    }
  }
  int needs_marker = prediction->logs_dropped && !prediction->logs_marker_length;
  int no_room = length > PN_PREDICTION_LOGS_MAX - LOGS_MARKER_ROOM - prediction->logs.length;
  if (needs_marker || no_room)
    drop_oldest_logs(prediction, length);
  if (pn_buf_append(&prediction->logs, text, length) < 0) {
    pn_buf_reset(&prediction->logs);
    prediction->logs_marker_length = 0;
  }
}

void pn_prediction_emit(pn_prediction *prediction, enum pn_prediction_event event,
                        const json_t *detail) {
  if (prediction->on_event)
    prediction->on_event(prediction, event, detail, prediction->arg);
}

void pn_prediction_finish(pn_prediction *prediction, enum pn_prediction_status status,
                          const char *error) {
  if (pn_prediction_is_terminal(prediction))
    return;
  prediction->status = status;
  if (error) {
    pn_free(prediction->error);
    prediction->error = pn_strdup(error);
  }
  prediction->completed_ns = pn_clock_realtime_ns();
  prediction->completed_mono_ns = pn_clock_monotonic_ns();
  if (!prediction->started_ns)
    prediction->started_ns = prediction->completed_ns;
  pn_prediction_emit(prediction, PN_PREDICTION_EVENT_DONE, NULL);
}
