/* Fetching and decoding file inputs. See inputs.h. Each input value that needs work
 * becomes a `download`: a place in the input JSON and a destination path. URLs are
 * fetched through the loop's HTTP client; data: URIs are decoded and written on the
 * worker pool (core/pool.h), so a request full of them never holds the loop. Eight run
 * at a time, of either kind. */
#include "serve/inputs.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/mime.h"
#include "core/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PARALLEL_DOWNLOADS 8
#define FILE_NAME_MAX 200
/* Defaults of the limits in docs/limits.md. */
#define INPUT_FILE_MAX ((size_t)16 * 1024 * 1024 * 1024)
#define INPUT_TOTAL_MAX ((size_t)16 * 1024 * 1024 * 1024)
#define INPUT_COUNT_MAX 1000
#define INPUT_DOWNLOAD_SECONDS 300

typedef struct download {
  json_t *holder; /* the string's container (object or array) */
  char *key;      /* object key, or NULL for an array index */
  size_t index;
  char *url;      /* the URL to download, or NULL */
  json_t *data_uri; /* a data: URI to decode (a reference), else NULL */
  char *folder; /* made when the download starts */
  char *path;
  pn_http_transfer *transfer;
  pn_pool_task *task; /* decoding on the pool */
  struct pn_inputs_fetch *fetch;
} download;

/* One data: URI decoded on a pool thread. It owns everything the thread reads and
 * writes; `item` is used on the loop only, and only when the task was not canceled. */
typedef struct decode_task {
  json_t *data_uri; /* a reference, released on the loop */
  char *path;
  size_t limit;
  download *item;
  size_t decoded;
  char *error; /* set by the thread when it failed */
} decode_task;

struct pn_inputs_fetch {
  pn_http_client *client;
  pn_pool *pool;
  download *downloads;
  size_t count, next, running, finished;
  size_t bytes; /* decoded data: URIs and finished downloads, against the total limit */
  pn_inputs_done_fn done;
  void *arg;
  int failed;
};

size_t pn_inputs_file_max(void) {
  static size_t limit; /* read once: a bad value is reported once */
  if (!limit)
    limit = (size_t)pn_env_number("PINION_INPUT_FILE_MAX", "bytes", 1,
                                  1125899906842624.0 /* 1 PiB */, (double)INPUT_FILE_MAX);
  return limit;
}

size_t pn_inputs_total_max(void) {
  static size_t limit;
  if (!limit)
    limit = (size_t)pn_env_number("PINION_INPUT_TOTAL_MAX", "bytes", 1,
                                  1125899906842624.0 /* 1 PiB */, (double)INPUT_TOTAL_MAX);
  return limit;
}

size_t pn_inputs_count_max(void) {
  static size_t limit;
  if (!limit)
    limit = (size_t)pn_env_number("PINION_INPUT_FILES_MAX", "files", 1, 1000000,
                                  INPUT_COUNT_MAX);
  return limit;
}

long pn_inputs_download_timeout_ms(void) {
  static long limit;
  if (!limit)
    limit = (long)(1000 * pn_env_number("PINION_INPUT_DOWNLOAD_TIMEOUT", "seconds", 0.1, 86400,
                                        INPUT_DOWNLOAD_SECONDS));
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
  return pn_strfmt("%s/input-%zu", temp_dir, number);
}

/* The file name a data: URI's media type gives ("file.png"); pn_malloc'd. */
static char *data_uri_file_name(const char *uri) {
  const char *meta = uri + 5;
  char *media_type = pn_strndup(meta, strcspn(meta, ";,"));
  char *name = pn_strfmt("file%s", pn_mime_extension(media_type ? media_type : ""));
  pn_free(media_type);
  return name;
}

/* data:[<media type>][;base64],<payload> written to `path` (its folder made first), with
 * the shared parser (core/encoding.c, fuzzed). Runs on a pool thread: touches only its
 * arguments. */
static int decode_data_uri(const char *uri, size_t uri_length, const char *path, size_t limit,
                           size_t *decoded, char **error) {
  char *media_type = NULL;
  const char *problem = NULL;
  pn_buf bytes;
  pn_buf_init(&bytes, limit);
  int rc = pn_data_uri_decode(uri, uri_length, &media_type, &bytes, &problem);
  pn_free(media_type);
  if (rc < 0) {
    *error = rc == PN_ETOOBIG
                 ? pn_strfmt("the data URI decodes to more than %zu bytes (the limit; "
                             "PINION_INPUT_FILE_MAX and PINION_INPUT_TOTAL_MAX raise it)",
                             limit)
                 : pn_strdup(problem ? problem : "the data URI could not be decoded");
    pn_buf_free(&bytes);
    return rc;
  }
  *decoded = bytes.length;
  char *folder = pn_strndup(path, (size_t)(strrchr(path, '/') - path));
  rc = folder && mkdir(folder, 0700) == 0 ? 0 : PN_EIO;
  pn_free(folder);
  if (rc == 0)
    rc = pn_fs_write(path, bytes.data ? bytes.data : "", bytes.length);
  pn_buf_free(&bytes);
  if (rc < 0)
    *error = pn_strdup("the decoded data URI could not be written to disk");
  return rc;
}

static void run_decode(void *arg) {
  decode_task *task = arg;
  decode_data_uri(json_string_value(task->data_uri), json_string_length(task->data_uri),
                  task->path, task->limit, &task->decoded, &task->error);
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

/* Which setting raises the limit a download ran into, for its error message. */
static const char *download_hint(const char *error) {
  if (strstr(error, "larger than the limit"))
    return " (PINION_INPUT_FILE_MAX and PINION_INPUT_TOTAL_MAX raise it)";
  if (strstr(error, "timed out") || strstr(error, "Timeout"))
    return " (PINION_INPUT_DOWNLOAD_TIMEOUT sets the time a download may take)";
  return "";
}

static void finish_fetch(pn_inputs_fetch *fetch, const char *error) {
  pn_inputs_done_fn done = fetch->done;
  void *arg = fetch->arg;
  fetch->done = NULL;
  pn_inputs_cancel(fetch);
  if (done)
    done(arg, error);
}

/* One input is ready at item->path (`bytes` long), or failed with `error`. */
static void item_finished(download *item, size_t bytes, const char *error) {
  pn_inputs_fetch *fetch = item->fetch;
  fetch->running--;
  if (error) {
    finish_fetch(fetch, error);
    return;
  }
  fetch->bytes += bytes;
  if (fetch->bytes > pn_inputs_total_max()) {
    char *message = pn_strfmt("the input files of this prediction add up to more than %zu "
                              "bytes (the limit; PINION_INPUT_TOTAL_MAX raises it)",
                              pn_inputs_total_max());
    finish_fetch(fetch, message ? message : "the input files are too large");
    pn_free(message);
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
  char *start_error = NULL;
  if (start_downloads(fetch, &start_error) < 0) {
    finish_fetch(fetch, start_error ? start_error : "download failed");
    pn_free(start_error);
  }
}

static void on_downloaded(const pn_http_response *response, void *arg) {
  download *item = arg;
  item->transfer = NULL;
  int failed = !response->ok || response->status >= 400;
  char *error = NULL;
  if (!response->ok)
    error = pn_strfmt("could not download %s: %s%s", item->url, response->error,
                      download_hint(response->error));
  else if (failed)
    error = pn_strfmt("%ld %s Error: %s for url: %s", response->status,
                      response->status < 500 ? "Client" : "Server",
                      reason_phrase(response->status), item->url);
  item_finished(item, response->bytes, failed ? (error ? error : "download failed") : NULL);
  pn_free(error);
}

static void free_decode(decode_task *task) {
  json_decref(task->data_uri);
  pn_free(task->path);
  pn_free(task->error);
  pn_free(task);
}

static void on_decoded(void *arg, int canceled) {
  decode_task *task = arg;
  if (!canceled) {
    task->item->task = NULL;
    item_finished(task->item, task->decoded, task->error);
  }
  free_decode(task);
}

static int start_decode(pn_inputs_fetch *fetch, download *item, size_t limit) {
  decode_task *task = pn_calloc(1, sizeof *task);
  if (!task)
    return PN_ENOMEM;
  task->data_uri = json_incref(item->data_uri);
  task->path = pn_strdup(item->path);
  task->limit = limit;
  task->item = item;
  int rc = task->path ? pn_pool_submit(fetch->pool, run_decode, on_decoded, task, &item->task)
                      : PN_ENOMEM;
  if (rc < 0)
    free_decode(task);
  return rc;
}

/* Starts queued downloads up to the parallel limit. On failure returns the code with
 * *error set (pn_malloc'd); the caller decides how to report it. */
static int start_downloads(pn_inputs_fetch *fetch, char **error) {
  const char *user_agent = getenv("COG_USER_AGENT");
  while (fetch->next < fetch->count && fetch->running < PARALLEL_DOWNLOADS) {
    download *item = &fetch->downloads[fetch->next++];
    size_t room = fetch->bytes < pn_inputs_total_max() ? pn_inputs_total_max() - fetch->bytes : 1;
    if (item->data_uri) {
      int rc = start_decode(fetch, item, room < pn_inputs_file_max() ? room : pn_inputs_file_max());
      if (rc < 0) {
        *error = pn_strfmt("could not decode a data URI: %s", pn_strerror(rc));
        return rc;
      }
      fetch->running++;
      continue;
    }
    if (mkdir(item->folder, 0700) < 0) {
      *error = pn_strdup("could not create a folder for an input file");
      return PN_EIO;
    }
    pn_http_request request = {
        .method = "GET",
        .url = item->url,
        .download_path = item->path,
        .max_response = room < pn_inputs_file_max() ? room : pn_inputs_file_max(),
        .connect_timeout_ms = 10000,
        .timeout_ms = pn_inputs_download_timeout_ms(),
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

/* Handles one string value at holder[key] or holder[index]: a URL or data: URI becomes
 * a download, started later by start_downloads. */
static int visit(walk *state, json_t *holder, const char *key, size_t index) {
  json_t *value = key ? json_object_get(holder, key) : json_array_get(holder, index);
  const char *text = json_string_value(value);
  if (!text || (!is_url(text) && !is_data_uri(text)))
    return 0;
  pn_inputs_fetch *fetch = state->fetch;
  download *grown = pn_realloc(fetch->downloads, (fetch->count + 1) * sizeof *grown);
  if (!grown)
    return PN_ENOMEM;
  fetch->downloads = grown;
  download *item = &fetch->downloads[fetch->count++];
  memset(item, 0, sizeof *item);
  item->holder = holder;
  item->key = key ? pn_strdup(key) : NULL;
  item->index = index;
  item->fetch = fetch;
  item->folder = slot_folder(state->temp_dir, state->folders++);
  char *name;
  if (is_data_uri(text)) {
    item->data_uri = json_incref(value);
    name = data_uri_file_name(text);
  } else {
    item->url = pn_strdup(text);
    name = item->url ? pn_inputs_file_name(text) : NULL;
  }
  item->path = name && item->folder ? pn_fs_join(item->folder, name) : NULL;
  pn_free(name);
  return item->path && (!key || item->key) ? 0 : PN_ENOMEM;
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

/* The file inputs that are URLs or data: URIs, and an upper bound of the bytes their
 * data: URIs decode to, counted before any work is done. */
static void count_remote(const pn_schema_validator *validator, const json_t *input,
                         size_t *count, size_t *data_bytes) {
  *count = 0;
  *data_bytes = 0;
  for (size_t i = 0; i < pn_schema_input_count(validator); i++) {
    const pn_schema_input *shape = pn_schema_input_at(validator, i);
    json_t *value = shape->is_file ? json_object_get(input, shape->name) : NULL;
    size_t elements = json_is_array(value) ? json_array_size(value) : 1;
    for (size_t j = 0; value && j < elements; j++) {
      const char *text = json_string_value(json_is_array(value) ? json_array_get(value, j) : value);
      if (!text || (!is_url(text) && !is_data_uri(text)))
        continue;
      (*count)++;
      if (is_data_uri(text))
        *data_bytes += strlen(text); /* base64 and percent-encoding only shrink */
    }
  }
}

int pn_inputs_check_limits(const pn_schema_validator *validator, const json_t *input,
                           char **message) {
  *message = NULL;
  size_t count, data_bytes;
  count_remote(validator, input, &count, &data_bytes);
  if (count > pn_inputs_count_max())
    *message = pn_strfmt("this prediction has %zu input files (URLs and data: URIs); at most %zu "
                         "are allowed (PINION_INPUT_FILES_MAX raises the limit)",
                         count, pn_inputs_count_max());
  else if (data_bytes / 4 * 3 > pn_inputs_total_max())
    *message = pn_strfmt("the data: URIs of this prediction decode to more than %zu bytes (the "
                         "limit; PINION_INPUT_TOTAL_MAX raises it)",
                         pn_inputs_total_max());
  else
    return 0;
  return *message ? PN_ETOOBIG : PN_ENOMEM;
}

int pn_inputs_prepare(pn_http_client *client, pn_pool *pool, const pn_schema_validator *validator,
                      json_t *input, const char *temp_dir, pn_inputs_done_fn done, void *arg,
                      pn_inputs_fetch **out, char **error) {
  *out = NULL;
  *error = NULL;
  pn_inputs_fetch *fetch = pn_calloc(1, sizeof *fetch);
  if (!fetch)
    return PN_ENOMEM;
  fetch->client = client;
  fetch->pool = pool;
  fetch->done = done;
  fetch->arg = arg;
  walk state = {temp_dir, 0, fetch, NULL};
  int rc = pn_inputs_check_limits(validator, input, &state.error);
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
    download *item = &fetch->downloads[i];
    pn_http_transfer_cancel(item->transfer);
    pn_pool_cancel(item->task); /* its callback frees the task */
    json_decref(item->data_uri);
    pn_free(item->key);
    pn_free(item->url);
    pn_free(item->folder);
    pn_free(item->path);
  }
  pn_free(fetch->downloads);
  pn_free(fetch);
}
