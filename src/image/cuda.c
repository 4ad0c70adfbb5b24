/* CUDA and cuDNN resolution for GPU images, as Cog does it (spec §1.2): a tensorflow
 * pin fixes both; otherwise a torch pin picks the newest CUDA its wheels exist for;
 * otherwise CUDA 11.8. cog.yaml's `cuda`/`cudnn` win when they agree with the pins
 * and are errors when they do not. The table itself is data, in cuda_table.h. */
#include "image/cuda.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "image/cuda_table.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Whether `version` (e.g. "2.1.0+cu121", "12.1.1") starts with the release `prefix`
 * ("2.1", "12.1") followed by nothing, '.', '+' or another non-digit. */
static int same_release(const char *version, const char *prefix) {
  size_t length = strlen(prefix);
  return strncmp(version, prefix, length) == 0 && !isdigit((unsigned char)version[length]);
}

int pn_image_requirement_pin(const char *requirements, const char *package, char **version) {
  *version = NULL;
  if (!requirements)
    return 0;
  size_t package_length = strlen(package);
  for (const char *line = requirements; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t line_length = end ? (size_t)(end - line) : strlen(line);
    const char *cursor = line;
    while (cursor < line + line_length && isspace((unsigned char)*cursor))
      cursor++;
    size_t name_length = 0;
    while (cursor + name_length < line + line_length &&
           (isalnum((unsigned char)cursor[name_length]) || strchr("-_.", cursor[name_length])))
      name_length++;
    if (name_length == package_length && strncasecmp(cursor, package, package_length) == 0) {
      const char *rest = cursor + name_length;
      while (rest < line + line_length && (*rest == ' ' || *rest == '\t'))
        rest++;
      if (rest + 1 < line + line_length && rest[0] == '=' && rest[1] == '=') {
        rest += 2;
        while (rest < line + line_length && *rest == ' ')
          rest++;
        size_t pin_length = 0;
        while (rest + pin_length < line + line_length &&
               !strchr(" \t;,#\r", rest[pin_length]))
          pin_length++;
        if (!(*version = pn_strndup(rest, pin_length)))
          return PN_ENOMEM;
      }
      return 1;
    }
    line = end ? end + 1 : NULL;
  }
  return 0;
}

/* The newest cuDNN the table has for `cuda`, or NULL. */
static const char *newest_cudnn(const char *cuda) {
  for (size_t i = 0; i < PN_IMAGE_TABLE_LENGTH(pn_image_cuda_table); i++)
    if (same_release(cuda, pn_image_cuda_table[i].cuda))
      return pn_image_cuda_table[i].cudnn;
  return NULL;
}

static int fail(char **error, char *message) {
  *error = message;
  return message ? PN_EINVAL : PN_ENOMEM;
}

/* "a, b, c" of the table's cuDNN versions for `cuda`; pn_malloc'd. */
static char *cudnn_list(const char *cuda) {
  pn_buf list;
  pn_buf_init(&list, 256);
  for (size_t i = 0; i < PN_IMAGE_TABLE_LENGTH(pn_image_cuda_table); i++)
    if (same_release(cuda, pn_image_cuda_table[i].cuda))
      pn_buf_appendf(&list, "%s%s", list.length ? ", " : "", pn_image_cuda_table[i].cudnn);
  return pn_buf_take(&list);
}

/* The torch row for a torch version, or -1. */
static int torch_row(const char *torch) {
  for (size_t i = 0; i < PN_IMAGE_TABLE_LENGTH(pn_image_torch_table); i++)
    if (same_release(torch, pn_image_torch_table[i].torch))
      return (int)i;
  return -1;
}

static int torch_supports(int row, const char *cuda) {
  for (size_t i = 0; i < 4 && pn_image_torch_table[row].cuda[i]; i++)
    if (same_release(cuda, pn_image_torch_table[row].cuda[i]))
      return 1;
  return 0;
}

/* Picks the CUDA from the pins when cog.yaml does not set it, and checks it against
 * them when it does. */
static int choose_cuda(const char *cuda, const char *requirements, const char **chosen,
                       const char **pinned_cudnn, char **error) {
  char *tensorflow = NULL, *torch = NULL;
  int has_tensorflow = pn_image_requirement_pin(requirements, "tensorflow", &tensorflow);
  int has_torch = has_tensorflow < 0 ? 0 : pn_image_requirement_pin(requirements, "torch", &torch);
  int rc = 0;
  *chosen = cuda;
  if (has_tensorflow < 0 || has_torch < 0) {
    rc = PN_ENOMEM;
  } else if (has_torch && !torch) {
    rc = fail(error, pn_strdup("torch version must be specified when using CUDA"));
  } else if (tensorflow) {
    size_t i = 0;
    while (i < PN_IMAGE_TABLE_LENGTH(pn_image_tensorflow_table) &&
           !same_release(tensorflow, pn_image_tensorflow_table[i].tensorflow))
      i++;
    if (i == PN_IMAGE_TABLE_LENGTH(pn_image_tensorflow_table))
      rc = fail(error, pn_strfmt("cog doesn't know what CUDA version is compatible with "
                                 "tensorflow==%s; set build.cuda in cog.yaml",
                                 tensorflow));
    else if (cuda && !same_release(cuda, pn_image_tensorflow_table[i].cuda))
      rc = fail(error, pn_strfmt("tensorflow %s is incompatible with CUDA %s: tensorflow %s "
                                 "was built for CUDA %s",
                                 tensorflow, cuda, tensorflow, pn_image_tensorflow_table[i].cuda));
    else if (!cuda) {
      *chosen = pn_image_tensorflow_table[i].cuda;
      *pinned_cudnn = pn_image_tensorflow_table[i].cudnn;
    }
  } else if (torch) {
    int row = torch_row(torch);
    if (row < 0 && !cuda)
      rc = fail(error, pn_strfmt("cog doesn't know what CUDA version is compatible with "
                                 "torch==%s; set build.cuda in cog.yaml",
                                 torch));
    else if (row >= 0 && cuda && !torch_supports(row, cuda)) {
      pn_buf list;
      pn_buf_init(&list, 256);
      for (size_t i = 0; i < 4 && pn_image_torch_table[row].cuda[i]; i++)
        pn_buf_appendf(&list, "%s%s", i ? ", " : "", pn_image_torch_table[row].cuda[i]);
      rc = fail(error, pn_strfmt("torch %s is incompatible with CUDA %s: torch %s has wheels "
                                 "for CUDA %s",
                                 torch, cuda, torch, list.data ? list.data : ""));
      pn_buf_free(&list);
    } else if (row >= 0 && !cuda) {
      /* The newest CUDA of the torch row that the base-image table has. */
      for (size_t i = 0; i < 4 && pn_image_torch_table[row].cuda[i] && !*chosen; i++)
        if (newest_cudnn(pn_image_torch_table[row].cuda[i]))
          *chosen = pn_image_torch_table[row].cuda[i];
    }
  }
  if (rc == 0 && !*chosen)
    *chosen = PN_IMAGE_DEFAULT_CUDA;
  pn_free(tensorflow);
  pn_free(torch);
  return rc;
}

int pn_image_cuda_resolve(const char *cuda, const char *cudnn, const char *requirements,
                          pn_image_cuda *result, char **error) {
  *error = NULL;
  memset(result, 0, sizeof *result);
  const char *chosen = NULL, *pinned_cudnn = NULL;
  int rc = choose_cuda(cuda, requirements, &chosen, &pinned_cudnn, error);
  if (rc < 0)
    return rc;
  const char *cudnn_major = cudnn ? cudnn : pinned_cudnn ? pinned_cudnn : newest_cudnn(chosen);
  if (!newest_cudnn(chosen))
    return fail(error, pn_strfmt("invalid build.cuda \"%s\": no CUDA base image is known for "
                                 "it; use one of 11.3, 11.5-11.8, 12.1, 12.2, 12.4, 12.6, "
                                 "12.8, 12.9",
                                 chosen));
  for (size_t i = 0; i < PN_IMAGE_TABLE_LENGTH(pn_image_cuda_table); i++) {
    if (same_release(chosen, pn_image_cuda_table[i].cuda) &&
        (same_release(cudnn_major, pn_image_cuda_table[i].cudnn) ||
         strcmp(cudnn_major, pn_image_cuda_table[i].cudnn) == 0)) {
      result->cuda = pn_image_cuda_table[i].cuda;
      result->cudnn = pn_image_cuda_table[i].cudnn;
      result->base_image = pn_image_cuda_table[i].image;
      return 0;
    }
  }
  char *list = cudnn_list(chosen);
  rc = fail(error, list ? pn_strfmt("CUDA %s is incompatible with cuDNN %s: compatible cuDNN "
                                    "versions are %s",
                                    chosen, cudnn_major, list)
                        : NULL);
  pn_free(list);
  return rc;
}
