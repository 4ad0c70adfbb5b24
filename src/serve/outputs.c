/* Encoding file outputs as data URIs or uploads. See outputs.h. */
#include "serve/outputs.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/mime.h"
#include "core/url.h"

#include <stdlib.h>
#include <string.h>

struct pn_outputs_job {
  pn_http_client *client;
  char *upload_url;
  json_t *value;
  json_t *files;
  size_t next;
  char *current_path;
  pn_http_transfer *transfer;
  pn_outputs_done_fn done;
  void *arg;
};

static char *pointer_token(const char **pointer) {
  const char *start = *pointer + 1;
  size_t length = strcspn(start, "/");
  pn_buf token;
  pn_buf_init(&token, length + 1);
  for (size_t i = 0; i < length; i++) {
    char c = start[i];
    if (c == '~' && i + 1 < length && (start[i + 1] == '0' || start[i + 1] == '1'))
      c = start[++i] == '0' ? '~' : '/';
    pn_buf_append(&token, &c, 1);
  }
  *pointer = start + length;
  return pn_buf_take(&token);
}

json_t *pn_json_pointer_get(json_t *root, const char *pointer) {
  json_t *node = root;
  while (node && *pointer == '/') {
    char *token = pointer_token(&pointer);
    if (!token)
      return NULL;
    node = json_is_array(node) ? json_array_get(node, strtoul(token, NULL, 10))
                               : json_object_get(node, token);
    pn_free(token);
  }
  return *pointer ? NULL : node;
}

int pn_json_pointer_set(json_t *root, const char *pointer, json_t *value) {
  const char *last = strrchr(pointer, '/');
  if (!last) {
    json_decref(value);
    return PN_EINVAL;
  }
  char *parent_pointer = pn_strndup(pointer, (size_t)(last - pointer));
  json_t *parent = parent_pointer ? pn_json_pointer_get(root, parent_pointer) : NULL;
  pn_free(parent_pointer);
  const char *rest = last;
  char *token = pointer_token(&rest);
  int rc = PN_EINVAL;
  if (token && json_is_array(parent))
    rc = json_array_set(parent, strtoul(token, NULL, 10), value) == 0 ? 0 : PN_EINVAL;
  else if (token && json_is_object(parent))
    rc = json_object_set(parent, token, value) == 0 ? 0 : PN_EINVAL;
  pn_free(token);
  json_decref(value);
  return rc;
}

char *pn_outputs_data_uri(const char *path, char **error) {
  char *bytes = NULL;
  size_t length = 0;
  int rc = pn_fs_read(path, PN_OUTPUT_INLINE_MAX, &bytes, &length);
  if (rc < 0) {
    *error = rc == PN_ETOOBIG
                 ? pn_strfmt("output file %s is larger than the 64 MiB that can be returned "
                             "inline; start the server with --upload-url to upload it instead",
                             path)
                 : pn_strfmt("output file %s could not be read: %s", path, pn_strerror(rc));
    return NULL;
  }
  pn_buf uri;
  pn_buf_init(&uri, (size_t)PN_OUTPUT_INLINE_MAX * 2);
  rc = pn_buf_appendf(&uri, "data:%s;base64,", pn_mime_for_path(path));
  if (rc == 0)
    rc = pn_base64_encode(bytes, length, &uri);
  pn_free(bytes);
  if (rc < 0) {
    pn_buf_free(&uri);
    *error = pn_strdup("out of memory encoding an output file");
    return NULL;
  }
  return pn_buf_take(&uri);
}

/* Puts `replacement` (steals it) where the pointer's file was; the root itself when
 * the pointer is "". */
static int replace(json_t **value, const char *pointer, json_t *replacement) {
  if (*pointer == '\0') {
    json_decref(*value);
    *value = replacement;
    return 0;
  }
  return pn_json_pointer_set(*value, pointer, replacement);
}

static int upload_next(pn_outputs_job *job, char **error);

static void finish(pn_outputs_job *job, const char *error) {
  pn_outputs_done_fn done = job->done;
  void *arg = job->arg;
  json_t *value = json_incref(job->value);
  job->done = NULL;
  pn_outputs_cancel(job);
  done(arg, error ? NULL : value, error);
  json_decref(value);
}

static char *final_url(const pn_http_response *response) {
  const char *url = response->location && *response->location ? response->location
                                                              : response->effective_url;
  return url ? pn_strndup(url, strcspn(url, "?")) : NULL;
}

static void on_uploaded(const pn_http_response *response, void *arg) {
  pn_outputs_job *job = arg;
  job->transfer = NULL;
  const char *pointer = json_string_value(json_array_get(job->files, job->next));
  if (!response->ok || response->status < 200 || response->status >= 300) {
    char *error =
        !response->ok
            ? pn_strfmt("uploading output file %s to %s failed: %s", job->current_path,
                        response->effective_url ? response->effective_url : job->upload_url,
                        response->error)
            : pn_strfmt("uploading output file %s to %s failed: the server answered HTTP %ld",
                        job->current_path,
                        response->effective_url ? response->effective_url : job->upload_url,
                        response->status);
    finish(job, error ? error : "upload failed");
    pn_free(error);
    return;
  }
  char *url = final_url(response);
  if (!url || replace(&job->value, pointer, json_string(url)) < 0) {
    pn_free(url);
    finish(job, "out of memory recording an uploaded file");
    return;
  }
  pn_free(url);
  job->next++;
  char *error = NULL;
  int rc = upload_next(job, &error);
  if (rc != 0)
    finish(job, rc < 0 ? (error ? error : "upload failed") : NULL);
  pn_free(error);
}

/* Starts the next upload. Returns 0 when one is running, 1 when none is left, or a
 * negative code with *error (pn_malloc'd) when it could not start. */
static int upload_next(pn_outputs_job *job, char **error) {
  while (job->next < json_array_size(job->files)) {
    const char *pointer = json_string_value(json_array_get(job->files, job->next));
    const char *path = json_string_value(pn_json_pointer_get(job->value, pointer ? pointer : ""));
    if (!path) {
      job->next++;
      continue;
    }
    pn_free(job->current_path);
    job->current_path = pn_strdup(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    /* The name joins the base's path, percent-encoded; a query (a signed URL's token)
     * stays at the end. */
    char *url = NULL;
    int built = pn_url_append_segment(job->upload_url, base, &url);
    if (built == PN_EINVAL) {
      *error = pn_strfmt("uploading output file %s failed: the upload URL \"%s\" is not an "
                         "http(s) URL",
                         path, job->upload_url);
      return built;
    }
    char *content_type = pn_strfmt("Content-Type: %s", pn_mime_for_path(path));
    const char *headers[] = {content_type, NULL};
    pn_http_request request = {
        .method = "PUT",
        .url = url,
        .headers = headers,
        .upload_path = path,
        .timeout_ms = 25000,
        .follow_redirects = 1,
        .max_response = 1024 * 1024,
    };
    int rc = url && content_type ? pn_http_client_send(job->client, &request, on_uploaded, job,
                                                       &job->transfer)
                                 : PN_ENOMEM;
    pn_free(url);
    pn_free(content_type);
    if (rc < 0)
      *error = pn_strfmt("uploading output file %s failed: %s", path, pn_strerror(rc));
    return rc;
  }
  return 1;
}

int pn_outputs_encode(pn_http_client *client, const char *upload_url, const json_t *value,
                      const json_t *files, pn_outputs_done_fn done, void *arg,
                      pn_outputs_job **out, json_t **encoded, char **error) {
  *out = NULL;
  *encoded = NULL;
  *error = NULL;
  json_t *copy = json_deep_copy(value);
  if (!copy)
    return PN_ENOMEM;
  if (json_array_size(files) == 0) {
    *encoded = copy;
    return 1;
  }
  if (!upload_url) {
    size_t i;
    json_t *pointer;
    json_array_foreach(files, i, pointer) {
      const char *path = json_string_value(pn_json_pointer_get(copy, json_string_value(pointer)));
      if (!path)
        continue;
      char *uri = pn_outputs_data_uri(path, error);
      if (!uri || replace(&copy, json_string_value(pointer), json_string_nocheck(uri)) < 0) {
        pn_free(uri);
        json_decref(copy);
        if (!*error)
          *error = pn_strdup("out of memory encoding an output file");
        return PN_EIO;
      }
      pn_free(uri);
    }
    *encoded = copy;
    return 1;
  }
  pn_outputs_job *job = pn_calloc(1, sizeof *job);
  if (!job) {
    json_decref(copy);
    return PN_ENOMEM;
  }
  job->client = client;
  job->upload_url = pn_strdup(upload_url);
  job->value = copy;
  job->files = json_incref((json_t *)files);
  job->done = done;
  job->arg = arg;
  int rc = upload_next(job, error);
  if (rc == 1)
    *encoded = json_incref(job->value);
  if (rc != 0) {
    job->done = NULL;
    pn_outputs_cancel(job);
    return rc;
  }
  *out = job;
  return 0;
}

void pn_outputs_cancel(pn_outputs_job *job) {
  if (!job)
    return;
  pn_http_transfer_cancel(job->transfer);
  json_decref(job->value);
  json_decref(job->files);
  pn_free(job->upload_url);
  pn_free(job->current_path);
  pn_free(job);
}
