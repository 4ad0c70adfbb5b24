/* The hub: `pinion hub`, Replicate's HTTP API v1 over the store. This header is the
 * contract between the hub's own files (server.c routes and replies, api_*.c one
 * resource each, prediction_life.c a prediction's life, objects.c, stream.c,
 * webhooks.c); the CLI sees only pn_hub_run and the token commands. See
 * docs/internals/hub.md. */
#ifndef PN_HUB_HUB_H
#define PN_HUB_HUB_H

#include "core/http_client.h"
#include "core/pool.h"
#include "core/tar.h"
#include "hub/bridge.h"
#include "hub/ids.h"
#include "hub/scheduling.h"
#include "queue/queue.h"
#include "store/store.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pn_hub_options {
  const char *listen;     /* HOST:PORT (127.0.0.1:8080) */
  /* HOST:PORT of the instances' routes (127.0.0.1:0) */
  const char *internal_listen;
  /* the container engine's bridge, where image versions' containers reach those routes
   * (hub/bridge.h); unused under --isolation none */
  pn_hub_bridge_options bridge;
  const char *public_url; /* the origin clients see (http://<listen>) */
  const char *data_dir;   /* ./.pinion */
  /* The state's database: a postgres:// URL, or NULL for SQLite at data_dir/hub.db */
  const char *database;
  /* The queue: a redis:// URL, or NULL for the embedded one (queue/queue.h) */
  const char *queue;
  double queue_lease;     /* seconds (0: PN_QUEUE_LEASE_DEFAULT) */
  /* The hub only queues: directors (`pinion director`) take and run every prediction,
   * reporting through the internal API. Needs a shared queue. */
  int queue_push_only;
  const char *port_file;  /* write the bound port here (tests), or NULL */
  int rate_limit;         /* requests per minute per account; 0: off */
  /* The director that runs the predictions this hub does not leave to directors
   * elsewhere (hub/scheduling.h): the CLI's, with the context its start is given. */
  const pn_hub_scheduler_ops *scheduler;
  void *scheduler_context;
  /* Sandboxed folder versions reach the internal listener through a unix socket
   * (pn_hub_owner_socket: they have no network of the host's); 0: no socket. */
  int internal_unix_socket;
  double bundle_max_bytes;   /* unpacked bytes of a pushed bundle; 0: the default */
  double bundle_max_entries; /* entries of a pushed bundle; 0: the default */
  /* HOST:PORT of GET /metrics (hub/metrics.h), or NULL for none; with a token file,
   * scrapes must carry its first line as `Authorization: Bearer` */
  const char *metrics_listen;
  const char *metrics_token_file;
} pn_hub_options;

/* A pushed bundle's ceilings while it unpacks (the option, else PINION_BUNDLE_MAX_SIZE /
 * PINION_BUNDLE_MAX_ENTRIES, else these): model weights make bundles of gigabytes, but
 * a few bytes of gzip must not become a full disk, nor a tar of empty entries hours of
 * work. */
#define PN_HUB_BUNDLE_MAX_BYTES ((size_t)20 << 30)
#define PN_HUB_BUNDLE_MAX_ENTRIES ((size_t)100000)

/* Runs the hub until SIGINT/SIGTERM; returns the process exit code. */
int pn_hub_run(const pn_hub_options *options);

/* The token commands (`pinion hub token ...`) and `pinion hub migrate` open the store
 * directly: `database` as pn_hub_options has it (NULL: SQLite under data_dir). The
 * token is printed by the caller; *token is pn_malloc'd. With `account` NULL it is a
 * director's credential (hub/ids.h), listed under the account PN_HUB_DIRECTOR_ACCOUNT. */
#define PN_HUB_DIRECTOR_ACCOUNT "(director)"
int pn_hub_token_create(const char *data_dir, const char *database, const char *account,
                        const char *name, char **token, char **error);

/* `pinion hub token list`: every token as a new array the caller releases. */
int pn_hub_token_list(const char *data_dir, const char *database, json_t **tokens);
/* `pinion hub token revoke ID`: PN_ENOENT when there is no such token. */
int pn_hub_token_revoke(const char *data_dir, const char *database, const char *id);
/* `pinion hub migrate`: opens the store, which applies the migrations it lacks, and says
 * on stdout which engine is at which schema version. */
int pn_hub_migrate(const char *data_dir, const char *database);

typedef struct pn_hub_stream pn_hub_stream;
typedef struct pn_hub_hook pn_hub_hook;

typedef struct pn_hub {
  const pn_hub_options *options;
  struct event_base *base;
  struct evhttp *http;
  struct evhttp *internal_http; /* /internal/ only (server.c) */
  struct pn_listen *listen;     /* accepts for `http` (core/listen.h) */
  pn_http_client *client;
  pn_store *store;
  pn_queue *queue; /* the hub's handle: it pushes; directors take (prediction_life.c) */
  pn_hub_scheduler *scheduler; /* its own director, the CLI's (hub/scheduling.h) */
  /* That director's credential for the internal API: a token of its own kind, `pnl_`
   * (hub/ids.h), made at start and never stored. */
  char local_credential[PN_HUB_TOKEN_SIZE];
  char *public_url;   /* without a trailing slash */
  char *internal_url; /* the internal listener, http://HOST:PORT, given to instances */
  /* This process's part of the data folder, which replicas may share (hub/owner.h) */
  struct pn_hub_owner *owner;
  /* Its unix socket, DATA/instances/<owner>.sock, for sandboxed folder versions (which have no
   * network of the host's); NULL without bubblewrap isolation. */
  char *internal_socket;
  /* the same on the engine's bridge, for image versions' containers (hub/bridge.h),
   * or NULL under --isolation none */
  char *container_internal_url;
  struct pn_hub_bridge *bridge;
  char *data_dir;
  unsigned char secret[32];    /* DATA/secret: signs file URLs and stream tokens */
  /* predictions in flight and finished ones' streams kept for replays, by id
   * (prediction_live.c) */
  struct pn_hub_lives *lives;
  struct pn_hub_limit *limits; /* rate-limit windows per account (server.c) */
  struct pn_pool *pool;        /* blocking work (unpacking pushes) off the loop */
  /* Trainings whose weights are being published (training_publish.c) */
  struct pn_hub_publish *publishing;
  struct pn_hub_metrics *metrics; /* the --metrics-listen listener (metrics.c), or NULL */
} pn_hub;

/* One API request while its handler runs. */
typedef struct pn_hub_request {
  pn_hub *hub;
  struct evhttp_request *request;
  const char *path;
  char *account;         /* the authenticated username, or NULL */
  const char *params[4]; /* the route's {} segments, percent-decoded */
  struct evkeyvalq query;
  const unsigned char *body; /* the request body (not NUL-terminated); NULL for the
                                routes that take it unpulled (server.c) until
                                pn_hub_body_pull */
  size_t body_length;
} pn_hub_request;

/* The body in one piece, in request->body (a copy of evhttp's chunks, owned by the
 * request): for small bodies. */
void pn_hub_body_pull(pn_hub_request *request);
/* Moves the body, as it is, into a new evbuffer the caller frees (no bytes are copied),
 * so that it can be pulled into one piece on the pool: for large bodies. NULL when out
 * of memory. */
struct evbuffer *pn_hub_body_take(pn_hub_request *request);
/* Queues blocking work on the hub's pool (core/pool.h); PN_EBUSY, with nothing queued
 * (the caller still owns `job`), when 16 jobs already wait: the caller answers 503. */
int pn_hub_pool_submit(pn_hub *hub, pn_pool_work_fn work, pn_pool_done_fn done, void *job);

typedef void (*pn_hub_handler)(pn_hub_request *request);

/* How a request authenticated. */
enum pn_hub_auth {
  PN_HUB_AUTH_NONE,        /* no credential, or none that is valid */
  PN_HUB_AUTH_TOKEN,       /* `Authorization: Bearer|Token <API token>` */
  PN_HUB_AUTH_SESSION,     /* the pages' session cookie with its X-CSRF-Token (sessions.h) */
  PN_HUB_AUTH_COOKIE_ONLY, /* the session cookie without a valid X-CSRF-Token: enough to
                              serve a page, never an API call */
  PN_HUB_AUTH_UNAVAILABLE, /* the store failed while looking the credential up: 503 */
};

/* Authenticates a request: the Authorization header when there is one, else the session
 * cookie. Unless NONE, *account is the username (pn_malloc'd; the caller frees it), and
 * the token's last use is recorded. */
enum pn_hub_auth pn_hub_authenticate(pn_hub *hub, struct evhttp_request *request, char **account);

/* --- replies (server.c) ------------------------------------------------------------ */

/* Answers `value` as JSON (steals the reference). */
void pn_hub_reply(pn_hub_request *request, int status, json_t *value);
/* Answers a problem+json: `detail` says what was wrong and what to do. */
void pn_hub_problem(pn_hub_request *request, int status, const char *title, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
/* 422 with Cog's validation entries (steals `entries`). */
void pn_hub_problem_invalid(pn_hub_request *request, json_t *entries);
/* Raw bytes with a content type. */
void pn_hub_reply_bytes(pn_hub_request *request, int status, const char *type, const void *bytes,
                        size_t length);
void pn_hub_reply_empty(pn_hub_request *request, int status);
/* A header on the reply to come. */
void pn_hub_header(pn_hub_request *request, const char *name, const char *value);
const char *pn_hub_request_header(pn_hub_request *request, const char *name);
const char *pn_hub_query(pn_hub_request *request, const char *name);
/* The body parsed as a JSON object, a new reference; NULL after answering 400. An empty
 * body is {}. */
json_t *pn_hub_body_object(pn_hub_request *request);
/* The answer when pn_hub_pool_submit refused a job (`rc`): 503 with Retry-After when the
 * pool's queue is full (PN_EBUSY), naming what it is busy `doing`; else 500. */
void pn_hub_problem_not_queued(pn_hub_request *request, int rc, const char *doing);
/* 503 when the store failed, naming what it was doing; when the database is unreachable
 * (PN_ECLOSED) the reply says so and that the hub reconnects by itself. */
void pn_hub_store_failed(pn_hub_request *request, int rc, const char *doing);

/* A page for `table`: reads `cursor` from the query, lists with `query`, turns each
 * row into its public object with `render` (a new reference; NULL skips the row) and
 * answers {previous, next, results} with absolute URLs. */
typedef json_t *(*pn_hub_render_fn)(pn_hub_request *request, const json_t *row);
void pn_hub_reply_page(pn_hub_request *request, const char *table, pn_store_query *query,
                       pn_hub_render_fn render);

/* Splits --listen's HOST:PORT (a bare PORT means 127.0.0.1); *host is pn_malloc'd.
 * -1 when malformed. */
int pn_hub_split_listen(const char *listen, char **host, int *port);

/* `{PUBLIC}` + path, pn_malloc'd. */
char *pn_hub_url(pn_hub *hub, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Now as RFC 3339 with microseconds; `out` holds 40 bytes. */
const char *pn_hub_now(char out[40]);

/* The account's webhook secret (made on first use), pn_malloc'd. */
int pn_hub_account_secret(pn_hub *hub, const char *account, char **secret);

/* --- resources ------------------------------------------------------------------ */

/* The model row "owner/name" visible to the caller (new reference), or NULL after
 * answering 404. */
json_t *pn_hub_model_visible(pn_hub_request *request, const char *owner, const char *name);
/* Saves a model row, its columns taken from the document. */
int pn_hub_model_save(pn_hub *hub, const json_t *model, int insert);

/* Files: a signed download URL for file `id` valid for `seconds`, pn_malloc'd, on the
 * public origin (`internal_url` NULL) or under /internal/ at `internal_url` (one of the
 * internal listener's URLs, for instances: pn_hub_scheduler_instance_hub_url). */
char *pn_hub_file_signed_url(pn_hub *hub, const json_t *file, long seconds,
                             const char *internal_url);
/* Keeps an uploaded file (a row the caller owns) for as long as the hub keeps the
 * predictions that use it: its expires_at becomes null, so no sweep deletes it.
 * PN_ENOENT when it has expired already. */
int pn_hub_file_keep(pn_hub *hub, json_t *file);
/* Seconds an uploaded file lives: PINION_FILE_LIFETIME, else 24 h. */
long pn_hub_file_lifetime(void);
/* Answers `status` with `length` bytes of `fd` from `offset` as the body, sent with
 * sendfile (none for HEAD), and Content-Length; the caller set the other headers. `fd`
 * is the reply's from here on (closed by it). When the segment cannot be attached (a
 * file shorter than it, no memory) the answer is a 503 saying the hub could not read
 * the `what` ("file", "image"). */
void pn_hub_send_file_segment(pn_hub_request *request, int status, int fd, uint64_t offset,
                              uint64_t length, const char *what);
/* Deletes expired uploaded files (rows, and blobs no row points at); returns how many.
 * Also sweeps, on the pool, the staging and set-aside blob files that writers which died
 * left (pn_hub_blob_sweep_leftovers, older than PN_HUB_BLOB_LEFTOVER_SECONDS). */
int pn_hub_files_sweep(pn_hub *hub);
/* The permanent public URL of an output file, pn_malloc'd. */
char *pn_hub_output_url(pn_hub *hub, const json_t *file);

/* The bundle limits in force (see PN_HUB_BUNDLE_MAX_BYTES). */
size_t pn_hub_bundle_max_bytes(const pn_hub *hub);
size_t pn_hub_bundle_max_entries(const pn_hub *hub);

/* The bundle limits in force, as one pn_tar_limits. */
pn_tar_limits pn_hub_bundle_limits(const pn_hub *hub);

/* Version bundles (api_models.c): what publishing a tar finds before the store is
 * touched. */
typedef struct pn_hub_bundle {
  char id[65];    /* the sha256 of the tar: the version id */
  char *dir;      /* DATA/bundles/<id>, pn_malloc'd */
  json_t *schema; /* its .cog/openapi_schema.json */
  int gpu;       /* the model needs a GPU (its cog.yaml's build.gpu, as the push said) */
  int rc;
  char *error; /* why rc < 0, pn_malloc'd, or NULL */
} pn_hub_bundle;

/* Hashes and unpacks a tar into DATA/bundles/<id>/ and reads its schema, into *found
 * (zeroed by the caller). It touches only the disk and its arguments: it runs on the
 * pool. */
void pn_hub_bundle_prepare(const char *data_dir, const void *tar, size_t length,
                           const pn_tar_limits *limits, pn_hub_bundle *found);
/* Saves a prepared bundle as a version of owner/name (creating the model), on the
 * loop. *version is a new reference to the version row. */
int pn_hub_bundle_record(pn_hub *hub, const char *account, const char *owner, const char *name,
                         const pn_hub_bundle *found, json_t **version, char **error);
void pn_hub_bundle_free(pn_hub_bundle *found);

/* Trainings (training_publish.c): a succeeded training's weights, added as `weights` to
 * the trained version's bundle, become a new version of its destination (setup(weights)
 * finds the file, as in Cog). Reading the weights, packing, hashing and unpacking run on
 * the pool; then `done` runs on the loop with `row` (a new reference it keeps: its
 * output is {version: "owner/name:id", weights} when rc is 0) and, when rc < 0, what
 * went wrong. Returns < 0, with *error pn_malloc'd and `done` never called, when the
 * work could not start. While it runs, pn_hub_training_publishing says so for the row's
 * id; when the hub stops first, `done` is not called (the next start fails the training
 * as interrupted). */
typedef void (*pn_hub_published_fn)(pn_hub *hub, json_t *row, int rc, const char *error);
int pn_hub_training_publish(pn_hub *hub, json_t *row, pn_hub_published_fn done, char **error);
int pn_hub_training_publishing(const pn_hub *hub, const char *id);

/* --- a prediction's life (prediction_life.c; the handlers use prediction_life.h) --- */

/* What the hub hears from the queue it pushes to: predictions settled and changed by
 * other processes (hub replicas), and when those notices were missed. */
pn_queue_consumer pn_hub_queue_consumer(pn_hub *hub);
/* Predictions: resume what was in flight at the last stop. */
void pn_hub_predictions_restore(pn_hub *hub);
/* With a shared queue: queues again the predictions that a hub stored and never queued
 * (it died between the two); the hub runs it every ORPHAN_SWEEP_SECONDS. */
void pn_hub_predictions_sweep_orphans(pn_hub *hub);
void pn_hub_predictions_free(pn_hub *hub);
/* Finished predictions whose streams the hub keeps for replays, and the bytes of
 * their events (PINION_STREAM_RETAIN_MAX, PINION_STREAM_RETAIN_BYTES; prediction_live.c). */
void pn_hub_streams_retained(const pn_hub *hub, size_t *count, size_t *bytes);
/* What a director reports of a prediction it runs (api_director.c reads it): */
enum pn_hub_report {
  PN_HUB_REPORT_BOOTING, /* no instance was free: one is starting */
  PN_HUB_REPORT_STARTED, /* given to the model; detail {"cold_boot_time": s or null} */
  PN_HUB_REPORT_UPDATE,  /* the model's webhook: detail = Cog's prediction object; `kind`
                            says which of start/output/logs/completed it was */
  PN_HUB_REPORT_FAILED,  /* it could not be run; detail {"error": "..."}; terminal */
};
/* An event a director reports for a prediction it runs (the hub's own director's
 * included), under `lease` (the queue's, pn_queue_lease): applied only
 * while that lease still holds the prediction's message. Returns 0 with the row as
 * stored afterwards in *row (a new reference; a terminal row is returned whatever the
 * lease), PN_ENOENT, PN_ESTATE when another director took the message over, PN_EINVAL
 * for a lease that is not this prediction's, PN_ECLOSED when the queue is unreachable,
 * or the store's failure: a terminal event is then not stored, and the director sends
 * it again. */
int pn_hub_director_report(pn_hub *hub, const char *prediction_id, const char *lease,
                           enum pn_hub_report event, const char *kind, const json_t *detail,
                           json_t **row);

/* --- handlers, one per route ---------------------------------------------------- */

void pn_hub_account_get(pn_hub_request *request);
void pn_hub_webhook_secret_get(pn_hub_request *request);
void pn_hub_hardware_list(pn_hub_request *request);
void pn_hub_collections_list(pn_hub_request *request);
void pn_hub_collection_get(pn_hub_request *request);

void pn_hub_models_list(pn_hub_request *request);
void pn_hub_models_search(pn_hub_request *request);
void pn_hub_models_create(pn_hub_request *request);
void pn_hub_model_get(pn_hub_request *request);
void pn_hub_model_update(pn_hub_request *request);
void pn_hub_model_delete(pn_hub_request *request);
void pn_hub_model_readme(pn_hub_request *request);
void pn_hub_model_examples(pn_hub_request *request);
void pn_hub_versions_list(pn_hub_request *request);
void pn_hub_versions_push(pn_hub_request *request);
void pn_hub_version_get(pn_hub_request *request);
void pn_hub_version_delete(pn_hub_request *request);
void pn_hub_version_runtime(pn_hub_request *request);

void pn_hub_predictions_create(pn_hub_request *request);
void pn_hub_model_predictions_create(pn_hub_request *request);
void pn_hub_deployment_predictions_create(pn_hub_request *request);
void pn_hub_trainings_create(pn_hub_request *request);
void pn_hub_predictions_list(pn_hub_request *request);
void pn_hub_trainings_list(pn_hub_request *request);
void pn_hub_prediction_get(pn_hub_request *request);
void pn_hub_prediction_cancel(pn_hub_request *request);
void pn_hub_stream_get(pn_hub_request *request);
void pn_hub_instance_webhook(pn_hub_request *request);
/* The director's routes (api_director.c). */
void pn_hub_director_event(pn_hub_request *request);
void pn_hub_director_upload_put(pn_hub_request *request);
/* GET /internal/director/versions/{id}/bundle and
 * /internal/director/deployments/{owner}/{name}/bundle (its current version): a folder
 * version's bundle as an uncompressed tar, for `pinion director --serve`; 409 for an
 * image version (the director is then given --model-url). */
void pn_hub_director_version_bundle(pn_hub_request *request);
void pn_hub_director_deployment_bundle(pn_hub_request *request);

void pn_hub_files_create(pn_hub_request *request);
void pn_hub_files_list(pn_hub_request *request);
void pn_hub_file_get(pn_hub_request *request);
void pn_hub_file_delete(pn_hub_request *request);
void pn_hub_file_download(pn_hub_request *request);
void pn_hub_upload_put(pn_hub_request *request);
void pn_hub_output_download(pn_hub_request *request);

void pn_hub_deployments_list(pn_hub_request *request);
void pn_hub_deployments_create(pn_hub_request *request);
void pn_hub_deployment_get(pn_hub_request *request);
void pn_hub_deployment_update(pn_hub_request *request);
void pn_hub_deployment_delete(pn_hub_request *request);

#endif
