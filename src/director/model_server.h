/* The model server a director starts itself (`pinion director --serve`): it fetches the
 * folder version's bundle from the hub's internal API with the director's credential,
 * unpacks it into its scratch folder, and starts `pinion serve` on it through
 * director/instance.c, sandboxed as the embedded hub's instances are (bubblewrap, and
 * slirp4netns unless the network is off). The sandboxed server reaches the director's
 * webhook and upload URLs through the director's unix socket, bound into the sandbox (as
 * an instance of the hub reaches the hub's internal listener). When the server dies the
 * director ends: unlike the hub's scheduler, which boots another instance for the next
 * prediction, it leaves restarting to what started it (a pod, systemd), and what it held
 * is taken over by another director after the lease. See docs/internals/director.md. */
#ifndef PN_DIRECTOR_MODEL_SERVER_H
#define PN_DIRECTOR_MODEL_SERVER_H

#include "core/cog_client.h"
#include "core/http_client.h"
#include "director/sandbox.h"

#include <event2/event.h>

typedef struct pn_model_server pn_model_server;

typedef struct pn_model_server_options {
  const char *hub_url;    /* the hub's internal listener */
  const char *credential; /* the director's */
  /* What to fetch: a version id, or a deployment's OWNER/NAME (its current version) */
  const char *version_id;
  const char *deployment;
  const char *mode;         /* "predict" or "train" (NULL: predict) */
  const char *scratch_dir;  /* the director's own (exists); the bundle and the server's go in it */
  const char *director_url; /* the director's origin, http://127.0.0.1:PORT */
  const char *director_socket; /* its unix socket, for a sandboxed server; or NULL */
  const char *python;          /* --python, or NULL: $PINION_PYTHON, else python3 on PATH */
  enum pn_isolation isolation;
  int network_off;     /* --instance-network off: the sandbox has only its own loopback */
  double boot_timeout; /* seconds from the server's start to READY */
} pn_model_server_options;

typedef struct pn_model_server_callbacks {
  /* READY: `server` (borrowed, valid until free) is how to reach it; `slots` what it
   * reported (`pinion_slots`). */
  void (*on_ready)(void *arg, const pn_cog_server *server, const char *address, int slots);
  /* The fetch, the unpacking, the sandbox or the boot failed, or the server exited:
   * `error` (borrowed) says why, with the server log's tail when there is one. Nothing
   * follows; the director frees it. */
  void (*on_failed)(void *arg, const char *error);
} pn_model_server_callbacks;

/* Starts: asks the hub which version the target is (a deployment's current one), then
 * fetches that version's bundle by id; the rest follows on the loop. -1 (out of
 * memory) or 0. */
int pn_model_server_start(struct event_base *base, pn_http_client *client,
                          const pn_model_server_options *options,
                          const pn_model_server_callbacks *callbacks, void *arg,
                          pn_model_server **server);
/* Stops the server (SIGTERM, then SIGKILL after `grace` seconds; blocking), removes
 * what it unpacked and frees. No callback runs afterwards. */
void pn_model_server_free(pn_model_server *server, double grace);

/* OWNER/NAME:ID of the version it serves (borrowed), or NULL until the hub said. */
const char *pn_model_server_version(const pn_model_server *server);

/* Asking the hub which version `options`' target is now: GET of its bundle route with
 * `Accept: application/json`, answered {"version": "OWNER/NAME:ID", "id"} without
 * packing anything (hub/api_director.c). Cheap: a --serve --deployment director polls
 * it to follow its deployment. `done` gets the version and id, or NULL and `error`
 * (all borrowed for the call), once; the ask is freed after it. */
typedef struct pn_version_ask pn_version_ask;
typedef void (*pn_model_server_version_fn)(void *arg, const char *version, const char *id,
                                           const char *error);
int pn_model_server_ask_version(pn_http_client *client, const pn_model_server_options *options,
                                pn_model_server_version_fn done, void *arg, pn_version_ask **ask);
/* Stops an ask whose `done` has not run yet: it never runs. NULL is fine. */
void pn_version_ask_cancel(pn_version_ask *ask);

#endif
