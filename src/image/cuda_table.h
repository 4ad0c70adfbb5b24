/* The GPU compatibility table, as data: which CUDA versions each torch release was
 * published for, which CUDA and cuDNN each tensorflow release was built against, and
 * the CUDA base image for each CUDA and cuDNN pair. Newest first within each table;
 * extend it by adding rows (tests/unit/test_dockerfile.c checks the choices). */
#ifndef PN_IMAGE_CUDA_TABLE_H
#define PN_IMAGE_CUDA_TABLE_H

/* torch minor version -> CUDA versions of its official wheels, newest first. */
static const struct {
  const char *torch;
  const char *cuda[4];
} pn_image_torch_table[] = {
    {"2.8", {"12.9", "12.8", "12.6"}},
    {"2.7", {"12.8", "12.6", "11.8"}},
    {"2.6", {"12.6", "12.4", "11.8"}},
    {"2.5", {"12.4", "12.1", "11.8"}},
    {"2.4", {"12.4", "12.1", "11.8"}},
    {"2.3", {"12.1", "11.8"}},
    {"2.2", {"12.1", "11.8"}},
    {"2.1", {"12.1", "11.8"}},
    {"2.0", {"11.8", "11.7"}},
    {"1.13", {"11.7", "11.6"}},
    {"1.12", {"11.6", "11.3"}},
    {"1.11", {"11.5", "11.3"}},
};

/* tensorflow minor version -> the CUDA and cuDNN it was built and tested with. */
static const struct {
  const char *tensorflow;
  const char *cuda;
  const char *cudnn;
} pn_image_tensorflow_table[] = {
    {"2.15", "12.2", "8"}, {"2.14", "11.8", "8"}, {"2.13", "11.8", "8"}, {"2.12", "11.8", "8"},
};

/* CUDA x cuDNN -> base image (NVIDIA's devel images, which carry nvcc and headers). */
static const struct {
  const char *cuda;
  const char *cudnn;
  const char *image;
} pn_image_cuda_table[] = {
    {"12.9", "9", "nvidia/cuda:12.9.1-cudnn-devel-ubuntu22.04"},
    {"12.8", "9", "nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04"},
    {"12.6", "9", "nvidia/cuda:12.6.3-cudnn-devel-ubuntu22.04"},
    {"12.4", "9", "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"},
    {"12.2", "8", "nvidia/cuda:12.2.2-cudnn8-devel-ubuntu22.04"},
    {"12.1", "8", "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04"},
    {"11.8", "8", "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04"},
    {"11.7", "8", "nvidia/cuda:11.7.1-cudnn8-devel-ubuntu22.04"},
    {"11.6", "8", "nvidia/cuda:11.6.2-cudnn8-devel-ubuntu20.04"},
    {"11.5", "8", "nvidia/cuda:11.5.2-cudnn8-devel-ubuntu20.04"},
    {"11.3", "8", "nvidia/cuda:11.3.1-cudnn8-devel-ubuntu20.04"},
};

/* The CUDA of a GPU model that pins neither torch nor tensorflow (Cog's default). */
#define PN_IMAGE_DEFAULT_CUDA "11.8"

#define PN_IMAGE_TABLE_LENGTH(table) (sizeof(table) / sizeof((table)[0]))

#endif
