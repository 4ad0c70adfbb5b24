/* A stand-in for the scheduler (hub/scheduler.h) until hub/scheduler.c and
 * hub/instance.c are merged: the hub links and runs, and every prediction fails at
 * once saying that no scheduler is built in. DELETE THIS FILE when scheduler.c lands. */
#include "hub/scheduler.h"

#include "core/alloc.h"
#include "core/error.h"

struct pn_scheduler {
  int unused;
};

int pn_scheduler_new(struct event_base *base, pn_http_client *client,
                     const pn_scheduler_options *options, pn_scheduler_event_fn on_event, void *arg,
                     pn_scheduler **scheduler) {
  *scheduler = pn_calloc(1, sizeof **scheduler);
  return *scheduler ? 0 : PN_ENOMEM;
}

void pn_scheduler_free(pn_scheduler *scheduler) { pn_free(scheduler); }

int pn_scheduler_submit(pn_scheduler *scheduler, const pn_scheduler_target *target,
                        const char *prediction_id, const json_t *request) {
  return PN_EUNSUPPORTED;
}

int pn_scheduler_cancel(pn_scheduler *scheduler, const char *prediction_id) { return PN_ENOENT; }

int pn_scheduler_configure(pn_scheduler *scheduler, const pn_scheduler_target *target) { return 0; }

int pn_scheduler_webhook(pn_scheduler *scheduler, const char *token, const json_t *body) {
  return PN_ENOENT;
}

pn_scheduler_stats pn_scheduler_target_stats(const pn_scheduler *scheduler, const char *key) {
  pn_scheduler_stats stats = {0};
  return stats;
}
