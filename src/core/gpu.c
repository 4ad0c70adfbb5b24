/* Counting NVIDIA GPUs from the file system. See gpu.h. */
#include "core/gpu.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_entries(const char *path, const char *prefix) {
  DIR *dir = opendir(path);
  if (!dir)
    return 0;
  int count = 0;
  size_t length = strlen(prefix);
  struct dirent *entry;
  while ((entry = readdir(dir))) {
    const char *name = entry->d_name;
    if (name[0] == '.' || strncmp(name, prefix, length) != 0)
      continue;
    if (length == 0) { /* every entry of the driver's list is a GPU */
      count++;
      continue;
    }
    /* /dev/nvidiaN is a GPU; /dev/nvidiactl and /dev/nvidia-uvm are not. */
    const char *rest = name + length;
    if (!*rest)
      continue;
    while (*rest && isdigit((unsigned char)*rest))
      rest++;
    if (*rest)
      continue;
    count++;
  }
  closedir(dir);
  return count;
}

int pn_gpu_count(void) {
  const char *root = getenv("PINION_GPU_ROOT");
  char path[4096];
  snprintf(path, sizeof path, "%s/proc/driver/nvidia/gpus", root ? root : "");
  int count = count_entries(path, "");
  if (count > 0)
    return count;
  snprintf(path, sizeof path, "%s/dev", root ? root : "");
  return count_entries(path, "nvidia");
}
