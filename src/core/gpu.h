/* Whether this machine has NVIDIA GPUs, found without loading any GPU library: the
 * driver's /proc/driver/nvidia/gpus entries, else the /dev/nvidiaN device files (in
 * containers and sandboxes /proc may lack the driver's folder). */
#ifndef PN_CORE_GPU_H
#define PN_CORE_GPU_H

/* The number of NVIDIA GPUs visible; 0 when none. PINION_GPU_ROOT prefixes the paths
 * (tests use it to stage fake device files). */
int pn_gpu_count(void);

#endif
