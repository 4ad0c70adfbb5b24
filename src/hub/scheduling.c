/* The hub's calls into the director the CLI gave it (scheduling.h). */
#include "hub/scheduling.h"

#include "core/error.h"

#include <stddef.h>

static int has(const pn_hub_scheduler *scheduler) {
  return scheduler && scheduler->ops && scheduler->scheduler;
}

int pn_hub_scheduler_configure(pn_hub_scheduler *scheduler, const pn_hub_scheduler_target *target) {
  return has(scheduler) ? scheduler->ops->configure(scheduler->scheduler, target) : PN_ENOENT;
}

int pn_hub_scheduler_slots(const pn_hub_scheduler *scheduler, const char *key) {
  return has(scheduler) ? scheduler->ops->slots(scheduler->scheduler, key) : 1;
}

int pn_hub_scheduler_credential_valid(const pn_hub_scheduler *scheduler, const char *credential) {
  return has(scheduler) && scheduler->ops->credential_valid(scheduler->scheduler, credential);
}

int pn_hub_scheduler_webhook(pn_hub_scheduler *scheduler, const char *credential,
                             const json_t *body) {
  return has(scheduler) ? scheduler->ops->webhook(scheduler->scheduler, credential, body)
                        : PN_ENOENT;
}

const char *pn_hub_scheduler_instance_hub_url(const pn_hub_scheduler *scheduler, int image) {
  return has(scheduler) ? scheduler->ops->instance_hub_url(scheduler->scheduler, image) : NULL;
}

void pn_hub_scheduler_container_network(pn_hub_scheduler *scheduler, const char *error) {
  if (has(scheduler))
    scheduler->ops->container_network(scheduler->scheduler, error);
}

pn_hub_scheduler_stats pn_hub_scheduler_target_stats(const pn_hub_scheduler *scheduler,
                                                     const char *key) {
  pn_hub_scheduler_stats none = {0};
  return has(scheduler) ? scheduler->ops->target_stats(scheduler->scheduler, key) : none;
}

void pn_hub_scheduler_each_target(const pn_hub_scheduler *scheduler,
                                  pn_hub_scheduler_target_fn each, void *arg) {
  if (has(scheduler))
    scheduler->ops->each_target(scheduler->scheduler, each, arg);
}
