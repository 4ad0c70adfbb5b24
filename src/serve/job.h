/* A job: one prediction going through the model server, from a validated input to a
 * client-ready result. It fetches file inputs (serve/inputs.h), hands the prediction
 * to the runner, encodes file outputs as they appear (serve/outputs.h), and reports
 * events with outputs already encoded. The HTTP server and `pinion predict` both run
 * predictions as jobs, so they cannot disagree. */
#ifndef PN_SERVE_JOB_H
#define PN_SERVE_JOB_H

#include "core/http_client.h"
#include "runtime/prediction.h"
#include "serve/model.h"

#include <jansson.h>

typedef struct pn_job pn_job;

enum pn_job_event {
  PN_JOB_START,  /* running in the worker; status processing */
  PN_JOB_OUTPUT, /* detail: {"chunk": item, "index": n}, item encoded */
  PN_JOB_LOG,    /* detail: {"source": "stdout"|"stderr", "data": text} */
  PN_JOB_METRIC, /* detail: {"name", "value", "mode"} */
  PN_JOB_DONE,   /* terminal; the response is final. The last event. */
};

typedef void (*pn_job_event_fn)(pn_job *job, enum pn_job_event event, const json_t *detail,
                                void *arg);

typedef struct pn_job_options {
  const char *upload_url; /* PUT file outputs here; NULL: data: URIs */
  int local_files;        /* keep file outputs as local paths (the CLI writes them) */
  int traceback_in_logs;  /* a failure's traceback ends its logs (for the hub, as Replicate
                           * shows it; Cog's own server leaves logs as printed) */
} pn_job_options;

/* Starts a job for `input` (validated and completed by the model's validator; the job
 * copies it). Returns PN_ESTATE when the model is not ready, PN_EBUSY when every slot is
 * taken or reserved; on success *job holds one reference for the caller, and events
 * follow (never from inside this call). */
int pn_job_start(pn_model *model, pn_http_client *client, const char *id, const json_t *input,
                 const json_t *context, const pn_job_options *options, pn_job_event_fn on_event,
                 void *arg, pn_job **job);
pn_job *pn_job_ref(pn_job *job);
void pn_job_unref(pn_job *job);
/* Stops listening: no more events reach the caller's function. */
void pn_job_detach(pn_job *job);
/* Asks for cancellation; the job ends `canceled` (DONE follows). */
void pn_job_cancel(pn_job *job);

pn_prediction *pn_job_prediction(const pn_job *job);
const char *pn_job_id(const pn_job *job);
int pn_job_is_done(const pn_job *job);
/* The encoded output so far: an array for iterators (and, before the end, for any
 * handler), the final value at the end. Borrowed; may be NULL. */
const json_t *pn_job_output(const pn_job *job);

/* The prediction as Cog's HTTP API returns it (keys alphabetical): id, status, output,
 * error, logs, metrics (with predict_time once terminal, and batch_size once it ran in
 * a batch), created_at, started_at,
 * completed_at, and `input` when `with_input` is set. New reference. */
json_t *pn_job_response(const pn_job *job, int with_input);

#endif
