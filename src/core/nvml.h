/* GPU memory and utilisation from NVIDIA's management library (NVML), for metrics.
 * libnvidia-ml.so.1 comes with the driver, never with pinion: it is opened with dlopen
 * the first time it is asked for, and a machine without it simply has no GPUs here.
 * Its declarations are restated below rather than taken from nvml.h, so that building
 * pinion needs nothing of NVIDIA's. Not thread-safe: one event loop asks. */
#ifndef PN_CORE_NVML_H
#define PN_CORE_NVML_H

#include <stdint.h>

/* The most GPUs reported; later ones are left out. */
#define PN_NVML_GPUS_MAX 64

typedef struct pn_nvml_sample {
  uint64_t memory_used_bytes;
  uint64_t memory_total_bytes;
  double utilization;  /* 0..1: the share of the last sample period a kernel ran */
  int has_utilization; /* some GPUs (and MIG instances) do not report it */
} pn_nvml_sample;

/* Loads and starts NVML on the first call (it can take a moment: once per process)
 * and says how many GPUs it sees, up to PN_NVML_GPUS_MAX. PN_EUNSUPPORTED when the
 * library is absent, lacks a function, or does not start (no driver); every later
 * call answers the same without trying again. */
int pn_nvml_gpu_count(unsigned *count);
/* Reads GPU `index` (0 .. count-1) now. PN_EIO when NVML cannot read it. */
int pn_nvml_sample_gpu(unsigned index, pn_nvml_sample *sample);

#endif
