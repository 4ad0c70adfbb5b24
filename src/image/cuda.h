/* Choosing the CUDA and cuDNN of a GPU image (spec §1.2): from the torch or tensorflow
 * pin in the model's requirements, or cog.yaml's own `cuda`/`cudnn`, through the
 * compatibility table in cuda_table.h. Conflicts come back as the messages Cog prints. */
#ifndef PN_IMAGE_CUDA_H
#define PN_IMAGE_CUDA_H

#include <stddef.h>

/* A resolved GPU stack. Strings point into the static table; nothing to free. */
typedef struct pn_image_cuda {
  const char *cuda;       /* "12.1" */
  const char *cudnn;      /* "8" */
  const char *base_image; /* "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04" */
} pn_image_cuda;

/* The exact pin of `package` (lower case, e.g. "torch") in requirements text: one
 * package per line, comments and options ignored. Returns 1 and sets *version (a
 * pn_malloc'd string the caller frees, or NULL when the package is listed without an
 * exact `==` pin) when the package is listed, 0 when it is not, PN_ENOMEM. */
int pn_image_requirement_pin(const char *requirements, const char *package, char **version);

/* Resolves the stack for a GPU model. `cuda` and `cudnn` are cog.yaml's values (NULL
 * when unset); `requirements` is the text of the model's Python requirements (NULL
 * when none). On success returns 0 and fills *result. On a conflict returns PN_EINVAL
 * and sets *error to a pn_malloc'd message the caller frees; PN_ENOMEM. */
int pn_image_cuda_resolve(const char *cuda, const char *cudnn, const char *requirements,
                          pn_image_cuda *result, char **error);

#endif
