/* Reading GPUs through NVML, loaded on demand. See nvml.h.
 *
 * The few NVML entry points used here, with their C types as NVIDIA documents them:
 * every function returns an nvmlReturn_t (0 is NVML_SUCCESS), a device handle is an
 * opaque pointer, and the structures below match nvmlMemory_t, nvmlMemory_v2_t and
 * nvmlUtilization_t. The "_v2" names are the ones current drivers export (the plain
 * names are kept for old binaries). Memory is read with nvmlDeviceGetMemoryInfo_v2 where
 * the driver has it (R510 and later): its `used` leaves out what the driver reserves
 * for itself, as nvidia-smi does, where the first version counts it (on an idle H200,
 * 615 MiB "used" against nvidia-smi's 0). */
#include "core/nvml.h"

#include "core/error.h"

#include <dlfcn.h>
#include <stddef.h>

typedef int nvml_return;
typedef void *nvml_device;
typedef struct {
  unsigned long long total, free, used;
} nvml_memory;
typedef struct {
  unsigned int version; /* MEMORY_V2_VERSION */
  unsigned long long total, reserved, free, used;
} nvml_memory_v2;
/* NVML_STRUCT_VERSION(Memory, 2): the structure's size, and 2 in the top byte. */
#define MEMORY_V2_VERSION ((unsigned int)sizeof(nvml_memory_v2) | (2u << 24))
typedef struct {
  unsigned int gpu, memory; /* percent */
} nvml_utilization;

static struct {
  nvml_return (*init)(void);
  nvml_return (*device_count)(unsigned int *count);
  nvml_return (*device_by_index)(unsigned int index, nvml_device *device);
  nvml_return (*memory_info)(nvml_device device, nvml_memory *memory);
  nvml_return (*memory_info_v2)(nvml_device device, nvml_memory_v2 *memory); /* may be NULL */
  nvml_return (*utilization)(nvml_device device, nvml_utilization *utilization);
} api;
static int tried;
static int available;
static unsigned gpus;

static int resolve(void *library) {
  *(void **)&api.init = dlsym(library, "nvmlInit_v2");
  *(void **)&api.device_count = dlsym(library, "nvmlDeviceGetCount_v2");
  *(void **)&api.device_by_index = dlsym(library, "nvmlDeviceGetHandleByIndex_v2");
  *(void **)&api.memory_info = dlsym(library, "nvmlDeviceGetMemoryInfo");
  *(void **)&api.utilization = dlsym(library, "nvmlDeviceGetUtilizationRates");
  *(void **)&api.memory_info_v2 = dlsym(library, "nvmlDeviceGetMemoryInfo_v2");
  return api.init && api.device_count && api.device_by_index && api.memory_info && api.utilization;
}

int pn_nvml_gpu_count(unsigned *count) {
  *count = 0;
  if (!tried) {
    tried = 1;
    /* Kept open for the life of the process: NVML has no state worth giving back. */
    void *library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library && (!resolve(library) || api.init() != 0)) {
      dlclose(library); /* nothing of it started */
      library = NULL;
    }
    unsigned found = 0;
    if (library && api.device_count(&found) == 0) {
      available = 1;
      gpus = found < PN_NVML_GPUS_MAX ? found : PN_NVML_GPUS_MAX;
    }
  }
  if (!available)
    return PN_EUNSUPPORTED;
  *count = gpus;
  return 0;
}

int pn_nvml_sample_gpu(unsigned index, pn_nvml_sample *sample) {
  sample->memory_used_bytes = sample->memory_total_bytes = 0;
  sample->utilization = 0;
  sample->has_utilization = 0;
  nvml_device device = NULL;
  if (!available || index >= gpus || api.device_by_index(index, &device) != 0)
    return PN_EIO;
  nvml_memory_v2 memory_v2 = {.version = MEMORY_V2_VERSION};
  nvml_memory memory;
  if (api.memory_info_v2 && api.memory_info_v2(device, &memory_v2) == 0) {
    sample->memory_used_bytes = memory_v2.used;
    sample->memory_total_bytes = memory_v2.total;
  } else if (api.memory_info(device, &memory) == 0) {
    sample->memory_used_bytes = memory.used;
    sample->memory_total_bytes = memory.total;
  } else {
    return PN_EIO;
  }
  nvml_utilization utilization;
  if (api.utilization(device, &utilization) == 0) {
    sample->utilization = utilization.gpu / 100.0;
    sample->has_utilization = 1;
  }
  return 0;
}
