/* The model server a director starts itself (model_server.h): fetch, unpack, sandbox,
 * start, and tell the director when it is READY or gone. */
#include "director/model_server.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/tar.h"
#include "core/url.h"
#include "director/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The ceilings of an unpacked bundle, as the hub's defaults (hub.h PN_HUB_BUNDLE_MAX_*):
 * the hub checked them at the push. */
#define BUNDLE_MAX_BYTES ((size_t)20 << 30)
#define BUNDLE_MAX_ENTRIES ((size_t)100000)
#define PROBLEM_MAX 65536

struct pn_model_server {
  struct event_base *base;
  pn_http_client *client;
  pn_model_server_options options;
  pn_model_server_callbacks callbacks;
  void *arg;
  char *python;
  char *tar_path, *bundle_dir, *instance_dir, *upload_url, *authorization;
  char *version;       /* OWNER/NAME:ID it serves, once the hub said which */
  pn_version_ask *ask; /* which version to fetch */
  pn_http_transfer *fetch;
  pn_pool *pool; /* one thread, for unpacking (started with the first bundle) */
  pn_pool_task *unpack;
  pn_sandbox *sandbox;
  pn_instance *instance;
  int over; /* failed: nothing more is reported */
};

static void fail(pn_model_server *self, const char *error) {
  if (self->over)
    return;
  self->over = 1;
  self->callbacks.on_failed(self->arg, error ? error : "out of memory");
}

static void failf_owned(pn_model_server *self, char *error) {
  fail(self, error);
  pn_free(error);
}

/* --- the server ------------------------------------------------------------------------ */

static void on_ready(pn_instance *instance, double boot_seconds, void *arg) {
  pn_model_server *self = arg;
  pn_info("director: the model server (pid %d) is READY after %.2f s",
          (int)pn_instance_pid(instance), boot_seconds);
  if (!self->over)
    self->callbacks.on_ready(self->arg, pn_instance_server(instance), pn_instance_address(instance),
                             pn_instance_slots(instance));
}

static void on_boot_failed(pn_instance *instance, const char *error, void *arg) {
  pn_model_server *self = arg;
  char *tail = pn_instance_log_tail(instance, 4096);
  failf_owned(self, pn_strfmt("the model server did not start: %s%s%s", error,
                              tail && *tail ? "\n--- its log ---\n" : "", tail ? tail : ""));
  pn_free(tail);
}

static void on_server_exit(pn_instance *instance, const char *diagnosis, int requested, void *arg) {
  pn_model_server *self = arg;
  if (!requested)
    failf_owned(self, pn_strfmt("the model server exited: %s", diagnosis ? diagnosis : "?"));
}

/* The sandbox as the embedded hub's scheduler sets it up (scheduler.c setup_isolation). */
static int make_sandbox(pn_model_server *self, char **error) {
  if (self->options.isolation == PN_ISOLATION_NONE) {
    pn_warn("director: --isolation none: the model runs as this director's user, with its "
            "environment and its files (its credential included)");
    return 0;
  }
  if (self->options.isolation == PN_ISOLATION_CONTAINER) {
    *error = pn_strdup("--isolation container runs only image versions, and --serve starts "
                       "folder versions: use --isolation bubblewrap, or run the image yourself "
                       "and give its address to --model-url");
    return PN_EUNSUPPORTED;
  }
  pn_sandbox_options sandbox_options = pn_sandbox_options_from_env();
  sandbox_options.pinion = "/proc/self/exe";
  sandbox_options.network = !self->options.network_off;
  sandbox_options.python = self->python;
  char *why = NULL;
  char *probe_dir = pn_fs_join(self->options.scratch_dir, "probe");
  int rc = probe_dir ? pn_sandbox_new(&sandbox_options, &self->sandbox, &why) : PN_ENOMEM;
  if (rc == 0)
    rc = pn_sandbox_probe(self->sandbox, probe_dir, &why);
  pn_free(probe_dir);
  if (rc < 0 && rc != PN_ENOMEM)
    *error = rc == PN_EUNSUPPORTED
                 ? pn_strfmt("the model cannot run sandboxed here: %s", why ? why : "?")
                 : pn_strfmt("the model cannot run sandboxed here: %s. Install bubblewrap "
                             "(Debian: apt-get install bubblewrap) and allow unprivileged user "
                             "namespaces, or pass --isolation none ONLY if you trust the model",
                             why ? why : "?");
  pn_free(why);
  if (rc == 0)
    pn_info("director: the model runs sandboxed by bubblewrap, %s",
            self->options.network_off ? "without network (--instance-network off)"
                                      : "with network through slirp4netns");
  return rc;
}

static void start_server(pn_model_server *self) {
  char *error = NULL;
  int rc = make_sandbox(self, &error);
  if (rc == 0) {
    int sandboxed = self->sandbox != NULL;
    pn_instance_spec spec = {.pinion = "/proc/self/exe",
                             .python = self->python,
                             .bundle_dir = self->bundle_dir,
                             .mode = self->options.mode ? self->options.mode : "predict",
                             .scratch_dir = self->instance_dir,
                             .upload_url = self->upload_url,
                             .hub_url = sandboxed ? self->options.director_url : NULL,
                             .hub_socket = sandboxed ? self->options.director_socket : NULL,
                             .sandbox = self->sandbox,
                             .network_slot = -1,
                             .boot_timeout = self->options.boot_timeout};
    pn_instance_callbacks callbacks = {on_ready, on_boot_failed, on_server_exit};
    rc = pn_instance_start(self->base, self->client, &spec, &callbacks, self, &self->instance,
                           &error);
  }
  if (rc < 0) {
    failf_owned(self, error ? error : pn_strdup("could not start the model server"));
    return;
  }
  pn_info("director: started the model server (pid %d)", (int)pn_instance_pid(self->instance));
}

/* --- the bundle ------------------------------------------------------------------------ */

/* The hub's problem+json `detail`, or the body's start. */
static char *problem_detail(const char *path) {
  char *text = NULL;
  size_t length = 0;
  if (pn_fs_read(path, PROBLEM_MAX, &text, &length) < 0)
    return pn_strdup("(no answer body)");
  json_t *problem = json_loadb(text, length, 0, NULL);
  const char *detail = json_string_value(json_object_get(problem, "detail"));
  char *out = detail ? pn_strdup(detail) : pn_strndup(text, length > 300 ? 300 : length);
  json_decref(problem);
  pn_free(text);
  return out;
}

/* Unpacking on a thread of the server's pool (core/pool.h): a bundle of gigabytes takes
 * a while, and the loop meanwhile answers /health and whatever else comes. The job owns
 * its strings; `server` is touched only on the loop, and only when not canceled. */
typedef struct unpack_job {
  pn_model_server *server;
  char *tar_path, *bundle_dir;
  size_t length; /* of the tar, for the log */
  int rc;
  char *error;
} unpack_job;

static void unpack_job_free(unpack_job *job) {
  pn_free(job->tar_path);
  pn_free(job->bundle_dir);
  pn_free(job->error);
  pn_free(job);
}

/* Unpacked from the downloaded file a chunk at a time (core/tar.h): a bundle of
 * gigabytes is never held in memory. */
static void unpack_work(void *arg) {
  unpack_job *job = arg;
  int fd = open(job->tar_path, O_RDONLY | O_CLOEXEC);
  job->rc = fd < 0 ? PN_EIO : 0;
  if (job->rc == 0 && mkdir(job->bundle_dir, 0700) < 0)
    job->rc = PN_EIO;
  pn_tar_limits limits = {BUNDLE_MAX_BYTES, BUNDLE_MAX_ENTRIES};
  if (job->rc == 0)
    job->rc = pn_tar_unpack_fd(fd, job->bundle_dir, &limits, &job->error);
  if (fd >= 0)
    close(fd);
  unlink(job->tar_path);
}

static void unpack_done(void *arg, int canceled) {
  unpack_job *job = arg;
  pn_model_server *self = canceled ? NULL : job->server;
  if (self) {
    self->unpack = NULL;
    const char *what =
        self->options.deployment ? self->options.deployment : self->options.version_id;
    if (job->rc < 0) {
      failf_owned(self, pn_strfmt("could not unpack the bundle of %s into %s: %s", what,
                                  job->bundle_dir, job->error ? job->error : pn_strerror(job->rc)));
    } else {
      pn_info("director: unpacked %s (%zu bytes) into %s", what, job->length, job->bundle_dir);
      start_server(self);
    }
  }
  unpack_job_free(job);
}

static void on_fetched(const pn_http_response *response, void *arg) {
  pn_model_server *self = arg;
  self->fetch = NULL;
  const char *what = self->options.deployment ? self->options.deployment : self->options.version_id;
  if (!response->ok) {
    failf_owned(self, pn_strfmt("could not fetch the bundle of %s from the hub at %s: %s", what,
                                self->options.hub_url, response->error ? response->error : "?"));
    return;
  }
  if (response->status != 200) {
    char *detail = problem_detail(self->tar_path);
    failf_owned(self,
                pn_strfmt("the hub at %s refused the bundle of %s (HTTP %ld): %s%s",
                          self->options.hub_url, what, response->status, detail ? detail : "?",
                          response->status == 401 ? " (is --credential a director's credential "
                                                    "that is not revoked?)"
                                                  : ""));
    pn_free(detail);
    return;
  }
  unpack_job *job = pn_calloc(1, sizeof *job);
  if (job) {
    job->server = self;
    job->tar_path = pn_strdup(self->tar_path);
    job->bundle_dir = pn_strdup(self->bundle_dir);
    job->length = (size_t)response->bytes;
  }
  if (!job || !job->tar_path || !job->bundle_dir ||
      (!self->pool && pn_pool_new(self->base, 1, &self->pool) < 0) ||
      pn_pool_submit(self->pool, unpack_work, unpack_done, job, &self->unpack) < 0) {
    self->unpack = NULL;
    if (job)
      unpack_job_free(job);
    fail(self, "could not start unpacking the bundle (out of memory, or no thread)");
  }
}

static char *bundle_url(const char *hub_url, const char *version_id, const char *deployment) {
  char *url = NULL, *next = NULL;
  if (deployment) {
    const char *slash = strchr(deployment, '/');
    char *owner = slash ? pn_strndup(deployment, (size_t)(slash - deployment)) : NULL;
    char *base = pn_strfmt("%s/internal/director/deployments", hub_url);
    if (owner && base && pn_url_append_segment(base, owner, &url) == 0 &&
        pn_url_append_segment(url, slash + 1, &next) == 0) {
      pn_free(url);
      url = next;
      next = NULL;
    } else {
      pn_free(url);
      url = NULL;
    }
    pn_free(owner);
    pn_free(base);
  } else {
    char *base = pn_strfmt("%s/internal/director/versions", hub_url);
    if (!base || pn_url_append_segment(base, version_id, &url) < 0)
      url = NULL;
    pn_free(base);
  }
  if (url && pn_url_append_segment(url, "bundle", &next) < 0)
    next = NULL;
  pn_free(url);
  return next;
}

/* --- which version ----------------------------------------------------------------------- */

struct pn_version_ask {
  char *target; /* for the messages */
  char *hub_url;
  pn_model_server_version_fn done;
  void *arg;
  pn_http_transfer *transfer;
};

static void ask_free(pn_version_ask *ask) {
  pn_free(ask->target);
  pn_free(ask->hub_url);
  pn_free(ask);
}

void pn_version_ask_cancel(pn_version_ask *ask) {
  if (!ask)
    return;
  if (ask->transfer)
    pn_http_transfer_cancel(ask->transfer);
  ask_free(ask);
}

static void on_version_answer(const pn_http_response *response, void *arg) {
  pn_version_ask *ask = arg;
  ask->transfer = NULL;
  json_t *answer = response->ok && response->status == 200 && response->body
                       ? json_loadb(response->body->data, response->body->length, 0, NULL)
                       : NULL;
  const char *version = json_string_value(json_object_get(answer, "version"));
  const char *id = json_string_value(json_object_get(answer, "id"));
  char *error = NULL;
  if (!response->ok) {
    error = pn_strfmt("could not ask the hub at %s which version %s is: %s", ask->hub_url,
                      ask->target, response->error ? response->error : "?");
  } else if (response->status != 200) {
    json_t *problem =
        response->body ? json_loadb(response->body->data, response->body->length, 0, NULL) : NULL;
    const char *detail = json_string_value(json_object_get(problem, "detail"));
    error = pn_strfmt("the hub at %s refused the bundle of %s (HTTP %ld): %s%s", ask->hub_url,
                      ask->target, response->status, detail ? detail : "?",
                      response->status == 401 ? " (is --credential a director's credential "
                                                "that is not revoked?)"
                                              : "");
    json_decref(problem);
  } else if (!version || !id) {
    error = pn_strfmt("the hub at %s answered which version %s is without a version and an "
                      "id",
                      ask->hub_url, ask->target);
  }
  ask->done(ask->arg, error ? NULL : version, error ? NULL : id, error);
  pn_free(error);
  json_decref(answer);
  ask_free(ask);
}

int pn_model_server_ask_version(pn_http_client *client, const pn_model_server_options *options,
                                pn_model_server_version_fn done, void *arg, pn_version_ask **out) {
  *out = NULL;
  pn_version_ask *ask = pn_calloc(1, sizeof *ask);
  char *url = bundle_url(options->hub_url, options->version_id, options->deployment);
  char *authorization = pn_strfmt("Authorization: Bearer %s", options->credential);
  int rc = -1;
  if (ask && url && authorization) {
    ask->target = pn_strdup(options->deployment ? options->deployment : options->version_id);
    ask->hub_url = pn_strdup(options->hub_url);
    ask->done = done;
    ask->arg = arg;
    const char *headers[] = {authorization, "Accept: application/json", NULL};
    pn_http_request request = {.method = "GET",
                               .url = url,
                               .headers = headers,
                               .max_response = PROBLEM_MAX,
                               .timeout_ms = 30000};
    if (ask->target && ask->hub_url)
      rc = pn_http_client_send(client, &request, on_version_answer, ask, &ask->transfer);
  }
  if (rc < 0 && ask)
    ask_free(ask);
  else if (rc == 0)
    *out = ask;
  pn_free(url);
  pn_free(authorization);
  return rc < 0 ? -1 : 0;
}

/* The hub said which version to fetch: its bundle, by id, so that the bytes are the
 * version's even when a deployment moves meanwhile. */
static void on_version(void *arg, const char *version, const char *id, const char *error) {
  pn_model_server *self = arg;
  self->ask = NULL;
  if (!version) {
    fail(self, error);
    return;
  }
  self->version = pn_strdup(version);
  char *url = bundle_url(self->options.hub_url, id, NULL);
  int rc = -1;
  if (self->version && url) {
    const char *headers[] = {self->authorization, NULL};
    pn_http_request request = {.method = "GET",
                               .url = url,
                               .headers = headers,
                               .download_path = self->tar_path,
                               .max_response = BUNDLE_MAX_BYTES + 1024 * BUNDLE_MAX_ENTRIES,
                               .low_speed_timeout_s = 60};
    rc = pn_http_client_send(self->client, &request, on_fetched, self, &self->fetch);
  }
  pn_free(url);
  if (rc < 0) {
    self->fetch = NULL;
    fail(self, "could not start fetching the bundle (out of memory)");
    return;
  }
  if (self->options.deployment)
    pn_info("director: fetching the bundle of %s, on version %s, from the hub",
            self->options.deployment, version);
  else
    pn_info("director: fetching the bundle of %s from the hub", version);
}

const char *pn_model_server_version(const pn_model_server *server) {
  return server ? server->version : NULL;
}

int pn_model_server_start(struct event_base *base, pn_http_client *client,
                          const pn_model_server_options *options,
                          const pn_model_server_callbacks *callbacks, void *arg,
                          pn_model_server **out) {
  *out = NULL;
  pn_model_server *self = pn_calloc(1, sizeof *self);
  if (!self)
    return -1;
  self->base = base;
  self->client = client;
  self->options = *options;
  self->callbacks = *callbacks;
  self->arg = arg;
  /* A sandbox starts from an empty environment: PINION_PYTHON goes as --python. */
  const char *python = options->python ? options->python : getenv("PINION_PYTHON");
  self->python = python && *python ? pn_strdup(python) : NULL;
  self->tar_path = pn_fs_join(options->scratch_dir, "bundle.tar");
  self->bundle_dir = pn_fs_join(options->scratch_dir, "bundle");
  self->instance_dir = pn_fs_join(options->scratch_dir, "server");
  self->upload_url = pn_strfmt("%s/upload/", options->director_url);
  self->authorization = pn_strfmt("Authorization: Bearer %s", options->credential);
  int rc = -1;
  if (self->tar_path && self->bundle_dir && self->instance_dir && self->upload_url &&
      self->authorization && (!python || !*python || self->python))
    rc = pn_model_server_ask_version(client, options, on_version, self, &self->ask);
  if (rc < 0) {
    pn_model_server_free(self, 0);
    return -1;
  }
  *out = self;
  return 0;
}

void pn_model_server_free(pn_model_server *self, double grace) {
  if (!self)
    return;
  self->over = 1;
  pn_version_ask_cancel(self->ask);
  if (self->fetch)
    pn_http_transfer_cancel(self->fetch);
  /* An unpacking under way ends first (its folder is removed below); its result is
   * dropped. */
  if (self->unpack)
    pn_pool_cancel(self->unpack);
  pn_pool_free(self->pool);
  if (self->instance)
    pn_instance_free(self->instance, grace);
  pn_sandbox_free(self->sandbox);
  if (self->tar_path)
    unlink(self->tar_path);
  if (self->bundle_dir && pn_fs_is_dir(self->bundle_dir))
    pn_fs_remove_tree(self->bundle_dir);
  pn_free(self->python);
  pn_free(self->version);
  pn_free(self->tar_path);
  pn_free(self->bundle_dir);
  pn_free(self->instance_dir);
  pn_free(self->upload_url);
  pn_free(self->authorization);
  pn_free(self);
}
