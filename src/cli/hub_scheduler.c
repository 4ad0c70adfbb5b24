/* director/scheduler.c behind the hub's interface (hub_scheduler.h): the same calls,
 * with the hub's names for the target, the events and the counts. */
#include "cli/hub_scheduler.h"

#include "core/alloc.h"
#include "core/log.h"
#include "director/scheduler.h"

typedef struct adapter {
  pn_scheduler *scheduler;
  pn_hub_scheduler_event_fn on_event;
  void *arg;
} adapter;

static pn_scheduler_target director_target(const pn_hub_scheduler_target *target) {
  return (pn_scheduler_target){
      .key = target->key,
      .bundle_dir = target->bundle_dir,
      .image = target->image,
      .mode = target->mode,
      .min_instances = target->min_instances,
      .max_instances = target->max_instances,
      .slots = target->slots,
  };
}

static pn_hub_scheduler_stats hub_stats(const pn_scheduler_stats *stats) {
  return (pn_hub_scheduler_stats){
      .instances = stats->instances,
      .ready = stats->ready,
      .busy = stats->busy,
      .queued = stats->queued,
  };
}

static void on_event(void *arg, const char *prediction_id, enum pn_scheduler_event event,
                     const char *kind, const json_t *detail) {
  adapter *a = arg;
  enum pn_hub_scheduler_event hub_event = PN_HUB_SCHEDULER_FAILED;
  switch (event) {
  case PN_SCHEDULER_BOOTING:
    hub_event = PN_HUB_SCHEDULER_BOOTING;
    break;
  case PN_SCHEDULER_STARTED:
    hub_event = PN_HUB_SCHEDULER_STARTED;
    break;
  case PN_SCHEDULER_UPDATE:
    hub_event = PN_HUB_SCHEDULER_UPDATE;
    break;
  case PN_SCHEDULER_FAILED:
    hub_event = PN_HUB_SCHEDULER_FAILED;
    break;
  }
  a->on_event(a->arg, prediction_id, hub_event, kind, detail);
}

static int start(void *context, const pn_hub_scheduler_setup *setup, void **out) {
  const pn_cli_hub_scheduler_options *given = context;
  adapter *a = pn_calloc(1, sizeof *a);
  if (!a)
    return -1;
  a->on_event = setup->on_event;
  a->arg = setup->arg;
  pn_scheduler_options options = {
      .pinion = "/proc/self/exe",
      .python = given->python,
      .scratch_dir = setup->scratch_dir,
      .hub_url = setup->hub_url,
      .hub_socket = setup->hub_socket,
      .container_hub_url = setup->container_hub_url,
      .container_pending = setup->container_pending,
      .container_error = setup->container_error,
      .idle_timeout = given->idle_timeout > 0 ? given->idle_timeout : 60,
      .boot_timeout = 600,
      .isolation = given->isolation,
      .instance_network_off = given->instance_network_off,
  };
  if (pn_scheduler_new(setup->base, setup->client, &options, on_event, a, &a->scheduler) < 0) {
    pn_free(a);
    return -1;
  }
  *out = a;
  return 0;
}

static void stop(void *scheduler) {
  adapter *a = scheduler;
  pn_scheduler_free(a->scheduler);
  pn_free(a);
}

static int submit(void *scheduler, const pn_hub_scheduler_target *target, const char *prediction_id,
                  const json_t *request) {
  pn_scheduler_target t = director_target(target);
  return pn_scheduler_submit(((adapter *)scheduler)->scheduler, &t, prediction_id, request);
}

static int cancel(void *scheduler, const char *prediction_id) {
  return pn_scheduler_cancel(((adapter *)scheduler)->scheduler, prediction_id);
}

static int configure(void *scheduler, const pn_hub_scheduler_target *target) {
  pn_scheduler_target t = director_target(target);
  return pn_scheduler_configure(((adapter *)scheduler)->scheduler, &t);
}

static int slots(const void *scheduler, const char *key) {
  return pn_scheduler_slots(((const adapter *)scheduler)->scheduler, key);
}

static int credential_valid(const void *scheduler, const char *credential) {
  return pn_scheduler_credential_valid(((const adapter *)scheduler)->scheduler, credential);
}

static int webhook(void *scheduler, const char *credential, const json_t *body) {
  return pn_scheduler_webhook(((adapter *)scheduler)->scheduler, credential, body);
}

static const char *instance_hub_url(const void *scheduler, int image) {
  return pn_scheduler_instance_hub_url(((const adapter *)scheduler)->scheduler, image);
}

static void container_network(void *scheduler, const char *error) {
  pn_scheduler_container_network(((adapter *)scheduler)->scheduler, error);
}

static pn_hub_scheduler_stats target_stats(const void *scheduler, const char *key) {
  pn_scheduler_stats stats =
      pn_scheduler_target_stats(((const adapter *)scheduler)->scheduler, key);
  return hub_stats(&stats);
}

typedef struct each_call {
  pn_hub_scheduler_target_fn each;
  void *arg;
} each_call;

static void each_one(void *arg, const char *key, const pn_scheduler_stats *stats, int min_instances,
                     int max_instances, int slot_count) {
  each_call *call = arg;
  pn_hub_scheduler_stats counts = hub_stats(stats);
  call->each(call->arg, key, &counts, min_instances, max_instances, slot_count);
}

static void each_target(const void *scheduler, pn_hub_scheduler_target_fn each, void *arg) {
  each_call call = {each, arg};
  pn_scheduler_each_target(((const adapter *)scheduler)->scheduler, each_one, &call);
}

const pn_hub_scheduler_ops pn_cli_hub_scheduler_ops = {
    .start = start,
    .free = stop,
    .submit = submit,
    .cancel = cancel,
    .configure = configure,
    .slots = slots,
    .credential_valid = credential_valid,
    .webhook = webhook,
    .instance_hub_url = instance_hub_url,
    .container_network = container_network,
    .target_stats = target_stats,
    .each_target = each_target,
    .kill_strays = pn_sandbox_kill_strays,
};
