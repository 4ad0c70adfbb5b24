/* One instance: a `pinion serve` child process that the scheduler starts for a target,
 * waits for (its port file, then GET /health-check until READY), sends predictions to
 * and stops. The child runs in its own process group with PR_SET_PDEATHSIG(SIGTERM), so
 * it dies with the hub; its stdout and stderr go to a log file in its scratch folder,
 * whose tail explains a failure. A folder version runs inside a sandbox when the spec
 * names one (director/sandbox.h): the child is then bubblewrap, which runs `pinion serve`.
 * See docs/internals/scheduler.md. */
#ifndef PN_DIRECTOR_INSTANCE_H
#define PN_DIRECTOR_INSTANCE_H

#include "core/cog_client.h"
#include "core/http_client.h"
#include "director/sandbox.h"

#include <event2/event.h>
#include <sys/types.h>

typedef struct pn_instance pn_instance;

typedef struct pn_instance_spec {
  const char *pinion;      /* the binary to run `serve` with */
  const char *python;      /* --python, or NULL */
  const char *bundle_dir;  /* a folder version, or NULL */
  const char *image;       /* an image version (`serve --image`), or NULL */
  const char *mode;        /* "predict" or "train" */
  const char *scratch_dir; /* created; holds the port file and the log; removed on free */
  const char *upload_url;  /* --upload-url */
  /* A sandboxed instance reaches hub_url (the internal listener's origin, of the upload
   * and webhook URLs) through the unix socket hub_socket, bound into its sandbox. */
  const char *hub_url;
  const char *hub_socket;
  const pn_sandbox *sandbox; /* runs a folder version in it (borrowed), or NULL: as the hub */
  int isolate_image;         /* an image version runs without privileges, with limits */
  /* With isolate_image: the container's own network, a slot of director/networks.h that no
   * other instance holds (`serve --x-network-slot`), or -1: the engine's default bridge. */
  int network_slot;
  double boot_timeout;     /* seconds from start to READY */
} pn_instance_spec;

typedef struct pn_instance_callbacks {
  /* The health check said READY (and GET /metrics was asked for its slots);
   * `boot_seconds` is the time from the start to READY. */
  void (*on_ready)(pn_instance *instance, double boot_seconds, void *arg);
  /* Setup failed (SETUP_FAILED, DEFUNCT), or the boot timed out. `error` is borrowed.
   * The instance is being stopped; on_exit follows. */
  void (*on_boot_failed)(pn_instance *instance, const char *error, void *arg);
  /* The process was reaped. `diagnosis` (borrowed) names the exit and quotes the log's
   * tail; `requested` is set when pn_instance_stop asked for it. Nothing follows. */
  void (*on_exit)(pn_instance *instance, const char *diagnosis, int requested, void *arg);
} pn_instance_callbacks;

/* Starts the child. On failure *error (pn_malloc'd, the caller frees it) says why. */
int pn_instance_start(struct event_base *base, pn_http_client *client, const pn_instance_spec *spec,
                      const pn_instance_callbacks *callbacks, void *arg, pn_instance **instance,
                      char **error);
/* Stops the child: SIGTERM, then SIGKILL to its process group after `grace` seconds.
 * on_exit follows (with `requested` set). Repeated calls are harmless. */
void pn_instance_stop(pn_instance *instance, double grace);
/* Kills the process group without waiting for on_exit, waiting at most `grace` seconds
 * after SIGTERM (blocking, for shutdown), removes the scratch folder and frees. No
 * callbacks run afterwards. */
void pn_instance_free(pn_instance *instance, double grace);
/* Several instances at once: SIGTERM to each, one shared grace, then SIGKILL and free. */
void pn_instance_free_all(pn_instance **instances, size_t count, double grace);

/* Reaps the child now if it has exited (for a failed request that may mean it died);
 * returns 1 when it is gone (on_exit runs from the loop), 0 when it is still running. */
int pn_instance_check_exit(pn_instance *instance);

/* `PUT /predictions/{id}` with `Prefer: respond-async` and `body` (JSON text, copied).
 * `id` holds only letters, digits, '.', '_' and '-'. `done` runs on the loop unless
 * the transfer is canceled. */
int pn_instance_put_prediction(pn_instance *instance, const char *id, const char *body,
                               pn_http_done_fn done, void *arg, pn_http_transfer **transfer);
/* `POST /predictions/{id}/cancel`. */
int pn_instance_cancel_prediction(pn_instance *instance, const char *id, pn_http_done_fn done,
                                  void *arg, pn_http_transfer **transfer);

/* The last `max_bytes` of the log (at most), from the start of a line, trimmed; a
 * pn_malloc'd string the caller frees ("" when the log is empty or unreadable). */
char *pn_instance_log_tail(const pn_instance *instance, size_t max_bytes);
pid_t pn_instance_pid(const pn_instance *instance);
/* Where it listens, for messages: http://127.0.0.1:PORT (http://localhost before it
 * wrote its port file), or its socket's path on the host (a sandbox). Borrowed. */
const char *pn_instance_address(const pn_instance *instance);
/* How to reach it with core/cog_client.h (its URL, or its socket for a sandbox);
 * borrowed, valid until the instance is freed. */
const pn_cog_server *pn_instance_server(const pn_instance *instance);
/* How many predictions it takes at once: its `pinion_slots` (GET /metrics), read when
 * its health check said READY, before on_ready; 1 before that, or when it did not say. */
int pn_instance_slots(const pn_instance *instance);

#endif
