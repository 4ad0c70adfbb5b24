/* The model server's core, shared by `pinion serve` and `pinion predict`: a model
 * folder's cog.yaml, its runner (runtime/), and the OpenAPI document and input
 * validator built from the worker's signature description (schema/). HTTP, webhooks
 * and the terminal are layers around it; this is why the CLI and the server always
 * agree on what a model accepts and returns. */
#ifndef PN_SERVE_MODEL_H
#define PN_SERVE_MODEL_H

#include "config/config.h"
#include "core/diag.h"
#include "core/pool.h"
#include "runtime/runner.h"
#include "schema/validate.h"
#include "serve/metrics.h"

#include <event2/event.h>
#include <jansson.h>

typedef struct pn_model pn_model;

typedef struct pn_model_options {
  const char *start_dir;   /* where to look for cog.yaml (then its parents); NULL = "." */
  const char *config_name; /* "cog.yaml" unless -f says otherwise */
  const char *python;      /* NULL: $PINION_PYTHON, else python3 on PATH */
  const char *mode;        /* "predict" (default) or "train" */
  int describe_only;       /* `pinion schema`: import and describe, no setup */
  double setup_timeout;    /* seconds; 0: $COG_SETUP_TIMEOUT, else none */
  int restart;             /* restart a dead worker */
  int max_concurrency;     /* 0: $COG_MAX_CONCURRENCY, cog.yaml, @concurrent, else 1 */
  long poll_us;            /* the worker polls this long for its next frame (core/loop.h) */
  /* The other mode's OpenAPI document, when cog.yaml has both `run` and `train` (borrowed
   * for the call to pn_model_open, which keeps a reference): the served schema is the
   * merged document, and requests of the other kind are checked against its inputs. */
  json_t *other_mode_document;
} pn_model_options;

typedef struct pn_model_callbacks {
  /* The runner's state changed, or the schema became available. */
  void (*on_state)(pn_model *model, void *arg);
  void (*on_setup_output)(pn_model *model, int stream, const char *bytes, size_t length,
                          void *arg);
  void (*on_stray_output)(pn_model *model, int stream, const char *bytes, size_t length,
                          void *arg);
} pn_model_callbacks;

/* Loads cog.yaml and starts the worker. Problems with cog.yaml go into `diags`
 * (returns PN_EPARSE); other failures set *error (pn_malloc'd, caller frees). */
int pn_model_open(struct event_base *base, const pn_model_options *options,
                  const pn_model_callbacks *callbacks, void *arg, pn_model **model,
                  pn_diag_list *diags, char **error);
void pn_model_free(pn_model *model);

const pn_config *pn_model_config(const pn_model *model);
pn_runner *pn_model_runner(const pn_model *model);
/* Threads for work too slow for the loop (decoding data: inputs); started on demand. */
pn_pool *pn_model_pool(const pn_model *model);
/* The OpenAPI document, or NULL until the worker described the predictor. Borrowed. */
const json_t *pn_model_schema(const pn_model *model);
/* The validator for the handler's inputs, or NULL until the schema exists. */
const pn_schema_validator *pn_model_validator(const pn_model *model);
/* The validator for a prediction (`training` 0) or a training (1): the other mode's
 * inputs when its document was given (pn_model_options), else the handler's. */
const pn_schema_validator *pn_model_validator_for(const pn_model *model, int training);
/* Reloads the model's code: a fresh worker imports and describes it again (the schema
 * is rebuilt) and runs setup; predictions in flight fail saying why. */
void pn_model_reload(pn_model *model);
/* Holds a slot for a job that has not reached the runner yet (its inputs are still
 * downloading), so that a later request gets 409 instead of taking it. PN_ESTATE when
 * not ready, PN_EBUSY when full. */
int pn_model_reserve(pn_model *model);
void pn_model_release(pn_model *model);
/* A job held while the runner replaces a worker that crashed (serve/job.c): the caller
 * owns it and keeps it alive until `ready` is called or it forgets it. */
typedef struct pn_model_waiter {
  struct pn_model_waiter *next;
  void (*ready)(void *arg);
  void *arg;
} pn_model_waiter;
/* Calls waiter->ready(arg) on a later turn of the loop, once the runner has left
 * STARTING: READY with the new worker, or given up (SETUP_FAILED, DEFUNCT). Waiters
 * are called in the order they came. */
void pn_model_await_worker(pn_model *model, pn_model_waiter *waiter);
/* Takes a waiter off the list before it is called; nothing when it is not on it. */
void pn_model_forget_waiter(pn_model *model, pn_model_waiter *waiter);
/* Slots neither running nor reserved. */
int pn_model_free_slots(const pn_model *model);
/* The mode's words: "Input"/"TrainingInput" etc. are chosen from it. */
int pn_model_is_training(const pn_model *model);
/* The model's metrics (serve/metrics.h): its jobs count into them. Borrowed. */
pn_serve_metrics *pn_model_metrics(const pn_model *model);

#endif
