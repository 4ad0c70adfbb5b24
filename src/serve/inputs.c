/* Fetching and decoding file inputs. See inputs.h. Each input value that needs work
 * becomes a `slot`: a place in the input JSON and a destination path. data: URIs are
 * decoded on the spot; URLs are queued and downloaded through the loop's HTTP client,
 * eight at a time. */
#include "serve/inputs.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PARALLEL_DOWNLOADS 8
#define FILE_NAME_MAX 200

typedef struct download {
  json_t *holder; /* the string's container (object or array) */
  char *key;      /* object key, or NULL for an array index */
  size_t index;
  char *url;
  char *path;
  pn_http_transfer *transfer;
  struct pn_inputs_fetch *fetch;
} download;

struct pn_inputs_fetch {
  pn_http_client *client;
  download *downloads;
  size_t count, next, running, finished;
  pn_inputs_done_fn done;
  void *arg;
  int failed;
};

size_t pn_inputs_file_max(void) {
  static size_t limit; /* read once: a bad value is reported once */
  if (!limit)
    limit = (size_t)pn_env_number("PINION_INPUT_FILE_MAX", "bytes", 1,
                                  1125899906842624.0 /* 1 PiB */, (double)((size_t)16 << 30));
  return limit;
}

char *pn_inputs_file_name(const char *url) {
  const char *start = strstr(url, "://");
  start = start ? start + 3 : url;
  size_t end = strcspn(start, "?#");
  const char *slash = NULL;
  for (const char *c = start; c < start + end; c++)
    if (*c == '/')
      slash = c;
  const char *segment = slash ? slash + 1 : start + end;
  size_t length = (size_t)(start + end - segment);
  pn_buf name;
  pn_buf_init(&name, 64 * 1024);
  if (pn_percent_decode(segment, length, 1, &name) < 0) {
    pn_buf_free(&name);
    return NULL;
  }
  for (size_t i = 0; i < name.length; i++)
    if (name.data[i] == '/' || name.data[i] == '\0')
      name.data[i] = '_';
  if (name.length == 0) {
    pn_buf_free(&name);
    return pn_strdup("file");
  }
  if (name.length > FILE_NAME_MAX) {
    const char *dot = strrchr(name.data, '.');
    size_t extension = dot ? strlen(dot) : 0;
    if (extension > FILE_NAME_MAX / 2)
      extension = 0;
    char *shortened = pn_strfmt("%.*s~%s", (int)(FILE_NAME_MAX - extension - 1), name.data,
                                extension ? dot : "");
    pn_buf_free(&name);
    return shortened;
  }
  return pn_buf_take(&name);
}

static int is_url(const char *text) {
  return strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0;
}

static int is_data_uri(const char *text) { return strncmp(text, "data:", 5) == 0; }

static char *slot_folder(const char *temp_dir, size_t number) {
  char *folder = pn_strfmt("%s/input-%zu", temp_dir, number);
  if (folder && mkdir(folder, 0700) < 0) {
    pn_free(folder);
    return NULL;
  }
  return folder;
}

/* data:[<media type>][;base64],<payload> written to a file; returns its path. */
static int decode_data_uri(const char *uri, const char *folder, char **path, char **error) {
  char *media_type = NULL;
  const char *problem = NULL;
  pn_buf bytes;
  pn_buf_init(&bytes, pn_inputs_file_max());
  int rc = pn_data_uri_decode(uri, strlen(uri), &media_type, &bytes, &problem);
  if (rc < 0) {
    *error = pn_strdup(problem ? problem : pn_strerror(rc));
    pn_buf_free(&bytes);
    return rc;
  }
  char *name = pn_strfmt("file%s", pn_mime_extension(media_type));
  *path = name ? pn_fs_join(folder, name) : NULL;
  pn_free(name);
  pn_free(media_type);
  rc = *path ? pn_fs_write(*path, bytes.data ? bytes.data : "", bytes.length) : PN_ENOMEM;
  pn_buf_free(&bytes);
  if (rc < 0)
    *error = pn_strdup("the decoded data URI could not be written to disk");
  return rc;
}

static const char *reason_phrase(long status) {
  switch (status) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 410: return "Gone";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Error";
  }
}

static int start_downloads(pn_inputs_fetch *fetch, char **error);

static void finish_fetch(pn_inputs_fetch *fetch, const char *error) {
  pn_inputs_done_fn done = fetch->done;
  void *arg = fetch->arg;
  fetch->done = NULL;
  pn_inputs_cancel(fetch);
  if (done)
    done(arg, error);
}

static void on_downloaded(const pn_http_response *response, void *arg) {
  download *item = arg;
  pn_inputs_fetch *fetch = item->fetch;
  item->transfer = NULL;
  fetch->running--;
  if (!response->ok || response->status >= 400) {
    char *error = !response->ok
                      ? pn_strfmt("could not download %s: %s", item->url, response->error)
                      : pn_strfmt("%ld %s Error: %s for url: %s", response->status,
                                  response->status < 500 ? "Client" : "Server",
                                  reason_phrase(response->status), item->url);
    finish_fetch(fetch, error ? error : "download failed");
    pn_free(error);
    return;
  }
  json_t *path = json_string(item->path);
  if (item->key)
    json_object_set_new(item->holder, item->key, path);
  else
    json_array_set_new(item->holder, item->index, path);
  if (++fetch->finished == fetch->count) {
    finish_fetch(fetch, NULL);
    return;
  }
  char *error = NULL;
  if (start_downloads(fetch, &error) < 0) {
    finish_fetch(fetch, error ? error : "download failed");
    pn_free(error);
  }
}

/* Starts queued downloads up to the parallel limit. On failure returns the code with
 * *error set (pn_malloc'd); the caller decides how to report it. */
static int start_downloads(pn_inputs_fetch *fetch, char **error) {
  const char *user_agent = getenv("COG_USER_AGENT");
  while (fetch->next < fetch->count && fetch->running < PARALLEL_DOWNLOADS) {
    download *item = &fetch->downloads[fetch->next++];
    pn_http_request request = {
        .method = "GET",
        .url = item->url,
        .download_path = item->path,
        .max_response = pn_inputs_file_max(),
        .connect_timeout_ms = 10000,
        .low_speed_timeout_s = 10,
        .follow_redirects = 1,
        .user_agent = user_agent && *user_agent ? user_agent : NULL,
    };
    int rc = pn_http_client_send(fetch->client, &request, on_downloaded, item, &item->transfer);
    if (rc < 0) {
      *error = pn_strfmt("could not download %s: %s", item->url, pn_strerror(rc));
      return rc;
    }
    fetch->running++;
  }
  return 0;
}

typedef struct walk {
  const char *temp_dir;
  size_t folders;
  pn_inputs_fetch *fetch;
  char *error;
} walk;

/* Handles one string value at holder[key] or holder[index]. */
static int visit(walk *state, json_t *holder, const char *key, size_t index) {
  json_t *value = key ? json_object_get(holder, key) : json_array_get(holder, index);
  const char *text = json_string_value(value);
  if (!text || (!is_url(text) && !is_data_uri(text)))
    return 0;
  char *folder = slot_folder(state->temp_dir, state->folders++);
  if (!folder) {
    state->error = pn_strdup("could not create a folder for an input file");
    return PN_EIO;
  }
  int rc = 0;
  if (is_data_uri(text)) {
    char *path = NULL;
    rc = decode_data_uri(text, folder, &path, &state->error);
    if (rc == 0) {
      json_t *replacement = json_string(path);
      rc = key ? json_object_set_new(holder, key, replacement)
               : json_array_set_new(holder, index, replacement);
    }
    pn_free(path);
    pn_free(folder);
    return rc;
  }
  pn_inputs_fetch *fetch = state->fetch;
  download *grown = pn_realloc(fetch->downloads, (fetch->count + 1) * sizeof *grown);
  if (!grown) {
    pn_free(folder);
    return PN_ENOMEM;
  }
  fetch->downloads = grown;
  download *item = &fetch->downloads[fetch->count];
  memset(item, 0, sizeof *item);
  char *name = pn_inputs_file_name(text);
  item->holder = holder;
  item->key = key ? pn_strdup(key) : NULL;
  item->index = index;
  item->url = pn_strdup(text);
  item->path = name ? pn_fs_join(folder, name) : NULL;
  item->fetch = fetch;
  pn_free(name);
  pn_free(folder);
  fetch->count++;
  return item->url && item->path && (!key || item->key) ? 0 : PN_ENOMEM;
}

static int add_scheme_error(json_t *detail, const char *name, const char *text) {
  char *message = pn_strfmt("'%s' is not a valid URL scheme. 'data', 'http', or 'https' is "
                            "supported.",
                            text);
  json_t *entry = json_pack("{s:[s,s,s], s:s, s:s}", "loc", "body", "input", name, "msg",
                            message ? message : "not a valid URL", "type", "value_error");
  pn_free(message);
  return entry ? json_array_append_new(detail, entry) : PN_ENOMEM;
}

int pn_inputs_check_remote(const pn_schema_validator *validator, const json_t *input,
                           json_t **out) {
  json_t *detail = json_array();
  for (size_t i = 0; detail && i < pn_schema_input_count(validator); i++) {
    const pn_schema_input *shape = pn_schema_input_at(validator, i);
    json_t *value = shape->is_file ? json_object_get(input, shape->name) : NULL;
    if (json_is_string(value)) {
      const char *text = json_string_value(value);
      if (!is_url(text) && !is_data_uri(text))
        add_scheme_error(detail, shape->name, text);
    } else if (json_is_array(value)) {
      size_t j;
      json_t *element;
      json_array_foreach(value, j, element) {
        const char *text = json_string_value(element);
        if (text && !is_url(text) && !is_data_uri(text)) {
          add_scheme_error(detail, shape->name, text);
          break;
        }
      }
    }
  }
  if (!detail)
    return PN_ENOMEM;
  if (json_array_size(detail) == 0) {
    json_decref(detail);
    *out = NULL;
    return 0;
  }
  *out = detail;
  return PN_EINVAL;
}

int pn_inputs_prepare(pn_http_client *client, const pn_schema_validator *validator, json_t *input,
                      const char *temp_dir, pn_inputs_done_fn done, void *arg,
                      pn_inputs_fetch **out, char **error) {
  *out = NULL;
  *error = NULL;
  pn_inputs_fetch *fetch = pn_calloc(1, sizeof *fetch);
  if (!fetch)
    return PN_ENOMEM;
  fetch->client = client;
  fetch->done = done;
  fetch->arg = arg;
  walk state = {temp_dir, 0, fetch, NULL};
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < pn_schema_input_count(validator); i++) {
    const pn_schema_input *shape = pn_schema_input_at(validator, i);
    if (!shape->is_file)
      continue;
    json_t *value = json_object_get(input, shape->name);
    if (json_is_string(value)) {
      rc = visit(&state, input, shape->name, 0);
    } else if (json_is_array(value)) {
      /* As in Cog, a list is fetched only when every element is a URL. */
      size_t j;
      json_t *element;
      int all_remote = 1;
      json_array_foreach(value, j, element) {
        const char *text = json_string_value(element);
        all_remote &= text && (is_url(text) || is_data_uri(text));
      }
      for (j = 0; all_remote && rc == 0 && j < json_array_size(value); j++)
        rc = visit(&state, value, NULL, j);
    }
  }
  if (rc < 0) {
    *error = state.error ? state.error : pn_strdup(pn_strerror(rc));
    fetch->done = NULL;
    pn_inputs_cancel(fetch);
    return rc;
  }
  if (fetch->count == 0) {
    fetch->done = NULL;
    pn_inputs_cancel(fetch);
    return 1;
  }
  rc = start_downloads(fetch, error);
  if (rc < 0) {
    fetch->done = NULL;
    pn_inputs_cancel(fetch);
    return rc;
  }
  *out = fetch;
  return 0;
}

void pn_inputs_cancel(pn_inputs_fetch *fetch) {
  if (!fetch)
    return;
  for (size_t i = 0; i < fetch->count; i++) {
    pn_http_transfer_cancel(fetch->downloads[i].transfer);
    pn_free(fetch->downloads[i].key);
    pn_free(fetch->downloads[i].url);
    pn_free(fetch->downloads[i].path);
  }
  pn_free(fetch->downloads);
  pn_free(fetch);
}
