/* director/local.c behind the hub's interface (hub_scheduler.h): the director that runs
 * the hub's predictions in its process, and its scheduler's calls with the hub's names
 * for the target and the counts. */
#include "cli/hub_scheduler.h"

#include "core/alloc.h"
#include "core/log.h"
#include "director/local.h"

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

static pn_scheduler *of(const void *director) { return pn_local_director_scheduler(director); }

static int start(void *context, const pn_hub_scheduler_setup *setup, void **out) {
  const pn_cli_hub_scheduler_options *given = context;
  pn_scheduler_options scheduler = {
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
  pn_local_director_options options = {
      .scheduler = &scheduler,
      .beside = setup->queue,
      .queue_url = setup->queue_url && *setup->queue_url ? setup->queue_url : NULL,
      .queue_lease = setup->queue_lease,
      .credential = setup->credential,
      .data_dir = setup->data_dir,
  };
  pn_local_director *director = NULL;
  char *error = NULL;
  if (pn_local_director_new(setup->base, setup->client, &options, &director, &error) < 0) {
    pn_error("hub: its director did not start: %s", error ? error : "out of memory");
    pn_free(error);
    return -1;
  }
  *out = director;
  return 0;
}

static void stop(void *director) { pn_local_director_free(director); }

static int configure(void *scheduler, const pn_hub_scheduler_target *target) {
  pn_scheduler_target t = director_target(target);
  return pn_scheduler_configure(of(scheduler), &t);
}

static int slots(const void *scheduler, const char *key) {
  return pn_scheduler_slots(of(scheduler), key);
}

static int credential_valid(const void *scheduler, const char *credential) {
  return pn_scheduler_credential_valid(of(scheduler), credential);
}

static int webhook(void *scheduler, const char *credential, const json_t *body) {
  return pn_scheduler_webhook(of(scheduler), credential, body);
}

static const char *instance_hub_url(const void *scheduler, int image) {
  return pn_scheduler_instance_hub_url(of(scheduler), image);
}

static void container_network(void *scheduler, const char *error) {
  pn_scheduler_container_network(of(scheduler), error);
}

static pn_hub_scheduler_stats target_stats(const void *scheduler, const char *key) {
  pn_scheduler_stats stats = pn_scheduler_target_stats(of(scheduler), key);
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
  pn_scheduler_each_target(of(scheduler), each_one, &call);
}

const pn_hub_scheduler_ops pn_cli_hub_scheduler_ops = {
    .start = start,
    .free = stop,
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
