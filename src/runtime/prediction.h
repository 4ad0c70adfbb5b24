/* One prediction (or training) as the runtime sees it: its input, its status, the
 * output as the worker produces it, its logs, error and metrics, and its timestamps.
 * Everything a prediction owns hangs off it and is released in pn_prediction_unref,
 * including its folder of temporary input files. */
#ifndef PN_RUNTIME_PREDICTION_H
#define PN_RUNTIME_PREDICTION_H

#include "core/buf.h"
#include "core/pool.h"

#include <jansson.h>
#include <stdint.h>

enum pn_prediction_status {
  PN_PREDICTION_STARTING,
  PN_PREDICTION_PROCESSING,
  PN_PREDICTION_SUCCEEDED,
  PN_PREDICTION_FAILED,
  PN_PREDICTION_CANCELED,
};

/* The most log text a prediction keeps (16 MiB): past it the oldest text is dropped
 * and the logs begin with a marker, "[... N bytes truncated]\n", N counting every
 * byte dropped so far. */
#define PN_PREDICTION_LOGS_MAX (16u * 1024u * 1024u)

enum pn_prediction_event {
  PN_PREDICTION_EVENT_START,  /* handed to the worker: status is processing */
  PN_PREDICTION_EVENT_OUTPUT, /* an iterator yielded; the item is the last of `output` */
  PN_PREDICTION_EVENT_LOG,    /* text was added to `logs` */
  PN_PREDICTION_EVENT_METRIC, /* the handler recorded a metric */
  PN_PREDICTION_EVENT_DONE,   /* terminal status reached; the last event */
};

typedef struct pn_prediction pn_prediction;

/* `detail` is: for OUTPUT the item (borrowed), for METRIC the metric message (borrowed),
 * for LOG an object {"source": "stdout"|"stderr", "data": the new text} (borrowed),
 * otherwise NULL. */
typedef void (*pn_prediction_event_fn)(pn_prediction *prediction, enum pn_prediction_event event,
                                       const json_t *detail, void *arg);

struct pn_prediction {
  int refs;
  char *id;
  json_t *input;   /* as handed to the worker */
  json_t *context; /* object of strings */
  enum pn_prediction_status status;
  int is_iterator;  /* output grows item by item */
  json_t *output;   /* NULL until there is output */
  json_t *files;    /* array of JSON pointers into output that are local file paths */
  pn_buf logs;
  size_t logs_dropped;       /* bytes of log text dropped, oldest first */
  size_t logs_marker_length; /* the marker at the start of `logs`, 0 when none */
  char *error;     /* when failed */
  char *traceback; /* when failed in Python; may be NULL */
  json_t *metrics; /* the user's metrics (object) */
  uint64_t created_ns, started_ns, completed_ns; /* wall clock, 0 when not yet */
  uint64_t accepted_mono_ns, completed_mono_ns;
  char *temp_dir; /* removed when the prediction is freed */
  pn_pool *pool;  /* when set, temp_dir is removed there, off the loop (1000 inputs:
                     seconds of unlink and rmdir) */
  pn_prediction_event_fn on_event;
  void *arg;
  int cancel_requested; /* someone asked to cancel it */
  int batch_size;       /* predictions in the batch it ran in; 0 when not batched */
  int batch_index;      /* its place in that batch, from 0 */
};

/* A new prediction with one reference, status starting. `id` is copied; `input` and
 * `context` are borrowed and copied with new references (context may be NULL). */
pn_prediction *pn_prediction_new(const char *id, json_t *input, json_t *context);
pn_prediction *pn_prediction_ref(pn_prediction *prediction);
/* Drops a reference; the last one frees everything and removes temp_dir. */
void pn_prediction_unref(pn_prediction *prediction);

const char *pn_prediction_status_name(enum pn_prediction_status status);
int pn_prediction_is_terminal(const pn_prediction *prediction);
/* Seconds between acceptance and completion (or now, when still running). */
double pn_prediction_predict_time(const pn_prediction *prediction);
/* Ends the prediction: sets its status (a terminal one), its error (copied, may be
 * NULL) and completion times, then sends the DONE event. Used by the runner, and by
 * the model server for a prediction that fails before it reaches the worker. */
void pn_prediction_finish(pn_prediction *prediction, enum pn_prediction_status status,
                          const char *error);
/* Sends an event to the prediction's listener, if it has one. */
void pn_prediction_emit(pn_prediction *prediction, enum pn_prediction_event event,
                        const json_t *detail);
/* Appends log text, keeping the newest PN_PREDICTION_LOGS_MAX bytes. */
void pn_prediction_append_logs(pn_prediction *prediction, const char *text, size_t length);

#endif
