/* The model server's metrics. See metrics.h; the names and their meanings are in
 * docs/metrics.md, which the hub and the directors follow for what they share.
 *
 * The set is built once, when the model opens. A prediction's start and end touch only
 * numbers in it. Values kept elsewhere — slots, worker restarts, setup times — are
 * copied in when /metrics is asked for, and so are the samples of this process's and
 * the worker's memory (/proc/<pid>/statm) and of the GPUs (core/nvml.h), which cost a
 * file read or a driver call each and are worth paying only when someone looks. */
#include "serve/metrics.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/nvml.h"
#include "core/prediction_metrics.h"
#include "serve/model.h"

#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

/* Batches hold 1 to PN_BATCH_SIZE_MAX predictions; most models ask for 4 to 64. */
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

struct pn_serve_metrics {
  pn_metrics *set;
  pn_prediction_metrics shared; /* predictions by status, duration, queue wait */
  pn_metric *batch_size;
  pn_metric *slots, *slots_in_use, *restarts, *setup;
  pn_metric *resident, *worker_resident;
  int gpus_checked; /* NVML was asked for once; the gpu_* metrics exist when it answered */
  unsigned gpus;
  pn_metric *gpu_used, *gpu_total, *gpu_utilization;
};

static int add(pn_serve_metrics *metrics, pn_metric **metric, const pn_metric_spec spec) {
  return pn_metrics_add(metrics->set, &spec, metric);
}

static int add_all(pn_serve_metrics *metrics) {
  const char *causes[PN_RESTART_CAUSES];
  for (int i = 0; i < PN_RESTART_CAUSES; i++)
    causes[i] = pn_restart_cause_name((enum pn_restart_cause)i);
  int rc = pn_prediction_metrics_add(metrics->set,
                                     PN_PREDICTION_METRICS_STATUS | PN_PREDICTION_METRICS_DURATION |
                                         PN_PREDICTION_METRICS_QUEUE_WAIT,
                                     &metrics->shared);
  if (rc == 0)
    rc = add(metrics, &metrics->batch_size,
             (pn_metric_spec){.name = "pinion_batch_size",
                              .help = "Predictions in each batch handed to a @cog.batch "
                                      "predictor (docs/batching.md).",
                              .type = PN_METRIC_HISTOGRAM,
                              .bounds = batch_bounds,
                              .bound_count = sizeof batch_bounds / sizeof batch_bounds[0]});
  if (rc == 0)
    rc = add(metrics, &metrics->slots,
             (pn_metric_spec){.name = "pinion_slots",
                              .help = "Predictions the model may run at once (0 until the "
                                      "worker has described the predictor).",
                              .type = PN_METRIC_GAUGE});
  if (rc == 0)
    rc = add(metrics, &metrics->slots_in_use,
             (pn_metric_spec){.name = "pinion_slots_in_use",
                              .help = "Slots taken by predictions running or fetching their "
                                      "inputs.",
                              .type = PN_METRIC_GAUGE});
  if (rc == 0)
    rc = add(metrics, &metrics->restarts,
             (pn_metric_spec){.name = "pinion_worker_restarts_total",
                              .help = "Times the model's worker was replaced by a fresh one, "
                                      "by cause.",
                              .type = PN_METRIC_COUNTER,
                              .label = "cause",
                              .label_values = causes,
                              .label_count = PN_RESTART_CAUSES});
  if (rc == 0)
    rc = add(metrics, &metrics->setup,
             (pn_metric_spec){.name = "pinion_setup_duration_seconds",
                              .help = "Seconds the last finished setup took, from starting the "
                                      "worker to the end of setup(), succeeded or failed.",
                              .type = PN_METRIC_GAUGE});
  if (rc == 0)
    rc = add(metrics, &metrics->resident,
             (pn_metric_spec){.name = "process_resident_memory_bytes",
                              .help = "Resident memory of the pinion serve process, in bytes.",
                              .type = PN_METRIC_GAUGE});
  if (rc == 0)
    rc = add(metrics, &metrics->worker_resident,
             (pn_metric_spec){.name = "pinion_worker_resident_memory_bytes",
                              .help = "Resident memory of the model's worker process (its "
                                      "Python), in bytes.",
                              .type = PN_METRIC_GAUGE});
  return rc;
}

int pn_serve_metrics_new(pn_serve_metrics **out) {
  *out = NULL;
  pn_serve_metrics *metrics = pn_calloc(1, sizeof *metrics);
  if (!metrics)
    return PN_ENOMEM;
  int rc = pn_metrics_new(&metrics->set);
  if (rc == 0)
    rc = add_all(metrics);
  if (rc < 0) {
    pn_serve_metrics_free(metrics);
    return rc;
  }
  *out = metrics;
  return 0;
}

void pn_serve_metrics_free(pn_serve_metrics *metrics) {
  if (!metrics)
    return;
  pn_metrics_free(metrics->set);
  pn_free(metrics);
}

static double seconds_between(uint64_t start_ns, uint64_t end_ns) {
  return end_ns > start_ns ? (double)(end_ns - start_ns) / 1e9 : 0;
}

void pn_serve_metrics_started(pn_serve_metrics *metrics, const pn_prediction *prediction) {
  if (!metrics)
    return;
  pn_prediction_metrics_started(&metrics->shared, seconds_between(prediction->accepted_mono_ns,
                                                                  pn_clock_monotonic_ns()));
  if (prediction->batch_size > 0 && prediction->batch_index == 0) /* once per batch */
    pn_metric_observe(metrics->batch_size, 0, prediction->batch_size);
}

void pn_serve_metrics_finished(pn_serve_metrics *metrics, const pn_prediction *prediction) {
  if (!metrics || !pn_prediction_is_terminal(prediction))
    return;
  pn_prediction_metrics_finished(
      &metrics->shared, pn_prediction_metrics_series(pn_prediction_status_name(prediction->status)),
      seconds_between(prediction->accepted_mono_ns, prediction->completed_mono_ns));
}

/* --- sampled when asked -------------------------------------------------------------- */

/* Resident bytes of process `pid` (0: this one): the second field of statm, in pages. */
static int resident_bytes(pid_t pid, double *bytes) {
  char path[64];
  if (pid)
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
  else
    snprintf(path, sizeof path, "/proc/self/statm");
  FILE *file = fopen(path, "r");
  if (!file)
    return PN_EIO;
  unsigned long size = 0, resident = 0;
  int fields = fscanf(file, "%lu %lu", &size, &resident);
  fclose(file);
  if (fields != 2)
    return PN_EIO;
  *bytes = (double)resident * (double)sysconf(_SC_PAGESIZE);
  return 0;
}

/* Registers the gpu_* metrics once, the first time they are asked for, if NVML sees
 * any GPU. */
static int add_gpu_metrics(pn_serve_metrics *metrics) {
  metrics->gpus_checked = 1;
  unsigned count = 0;
  if (pn_nvml_gpu_count(&count) < 0 || count == 0)
    return 0;
  char names[PN_NVML_GPUS_MAX][12];
  const char *labels[PN_NVML_GPUS_MAX];
  for (unsigned i = 0; i < count; i++) {
    snprintf(names[i], sizeof names[i], "%u", i);
    labels[i] = names[i];
  }
  pn_metric_spec spec = {
      .type = PN_METRIC_GAUGE, .label = "gpu", .label_values = labels, .label_count = count};
  spec.name = "pinion_gpu_memory_used_bytes";
  spec.help = "GPU memory in use on the GPU (by every process), in bytes, from NVML.";
  int rc = pn_metrics_add(metrics->set, &spec, &metrics->gpu_used);
  spec.name = "pinion_gpu_memory_total_bytes";
  spec.help = "GPU memory the GPU has, in bytes, from NVML.";
  if (rc == 0)
    rc = pn_metrics_add(metrics->set, &spec, &metrics->gpu_total);
  spec.name = "pinion_gpu_utilization_ratio";
  spec.help = "Share of NVML's last sample period (0 to 1) in which a kernel ran on the GPU.";
  if (rc == 0)
    rc = pn_metrics_add(metrics->set, &spec, &metrics->gpu_utilization);
  if (rc == 0)
    metrics->gpus = count;
  return rc;
}

static void sample_gpus(pn_serve_metrics *metrics) {
  for (unsigned i = 0; i < metrics->gpus; i++) {
    pn_nvml_sample sample;
    if (pn_nvml_sample_gpu(i, &sample) < 0)
      continue;
    pn_metric_set(metrics->gpu_used, i, (double)sample.memory_used_bytes);
    pn_metric_set(metrics->gpu_total, i, (double)sample.memory_total_bytes);
    if (sample.has_utilization)
      pn_metric_set(metrics->gpu_utilization, i, sample.utilization);
  }
}

static void sample_model(pn_serve_metrics *metrics, const struct pn_model *model) {
  pn_runner *runner = pn_model_runner(model);
  int slots = pn_runner_slots(runner);
  int in_use = slots - pn_model_free_slots(model);
  pn_metric_set(metrics->slots, 0, slots);
  pn_metric_set(metrics->slots_in_use, 0, in_use > 0 ? in_use : 0);
  for (int i = 0; i < PN_RESTART_CAUSES; i++)
    pn_metric_set(metrics->restarts, (size_t)i,
                  (double)pn_runner_restarts(runner, (enum pn_restart_cause)i));
  uint64_t started = pn_runner_setup_started_ns(runner);
  uint64_t completed = pn_runner_setup_completed_ns(runner);
  if (started && completed >= started) /* else a setup is running: keep the last one's */
    pn_metric_set(metrics->setup, 0, seconds_between(started, completed));
  double bytes;
  pid_t worker = pn_runner_worker_pid(runner);
  if (worker && resident_bytes(worker, &bytes) == 0)
    pn_metric_set(metrics->worker_resident, 0, bytes);
}

int pn_serve_metrics_write(const struct pn_model *model, pn_buf *out) {
  pn_serve_metrics *metrics = pn_model_metrics(model);
  sample_model(metrics, model);
  double bytes;
  if (resident_bytes(0, &bytes) == 0)
    pn_metric_set(metrics->resident, 0, bytes);
  if (!metrics->gpus_checked) {
    int rc = add_gpu_metrics(metrics);
    if (rc < 0)
      return rc;
  }
  sample_gpus(metrics);
  return pn_metrics_write(metrics->set, out);
}
