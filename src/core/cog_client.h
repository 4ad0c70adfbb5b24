/* The client side of the Cog HTTP API: what the hub's instances and the director both
 * need to drive a model server (pinion serve, or a Cog-built image) like any client:
 * reading its health check (READY yet? did setup fail, and why?), and creating and
 * canceling predictions asynchronously (`Prefer: respond-async`, progress by webhook).
 * Requests run on the loop through the caller's pn_http_client. */
#ifndef PN_CORE_COG_CLIENT_H
#define PN_CORE_COG_CLIENT_H

#include "core/http_client.h"

enum pn_cog_health {
  PN_COG_STARTING, /* no answer yet, STARTING, or not a health check: ask again */
  PN_COG_READY,    /* READY, BUSY or UNHEALTHY: it takes predictions */
  PN_COG_FAILED,   /* SETUP_FAILED or DEFUNCT: it never will */
};

/* Reads the answer to GET /health-check. For PN_COG_FAILED, *error (pn_malloc'd, the
 * caller frees it; NULL when out of memory) says why, ending with the last line of the
 * setup logs. */
enum pn_cog_health pn_cog_health_read(const pn_http_response *response, char **error);

/* Where a model server listens: `base_url` (http://HOST:PORT, no trailing slash), and
 * `unix_socket`, the socket to connect through instead of HOST:PORT (a server started
 * with `pinion serve --unix-socket`; its URL then only names the Host header), or
 * NULL. Both borrowed. */
typedef struct pn_cog_server {
  const char *base_url;
  const char *unix_socket;
} pn_cog_server;

/* GET /health-check. */
int pn_cog_health_check(pn_http_client *client, const pn_cog_server *server, pn_http_done_fn done,
                        void *arg, pn_http_transfer **transfer);

/* GET /metrics (Prometheus text; pinion serve's `pinion_slots` says how many
 * predictions it takes at once, core/metrics_read.h reads it). */
int pn_cog_get_metrics(pn_http_client *client, const pn_cog_server *server, pn_http_done_fn done,
                       void *arg, pn_http_transfer **transfer);

/* `PUT /predictions/{id}` with `Prefer: respond-async` and `body` (JSON text, copied):
 * 202 when accepted, 409 while the model's slots are taken. `id` holds only letters,
 * digits, '.', '_' and '-'. */
int pn_cog_put_prediction(pn_http_client *client, const pn_cog_server *server, const char *id,
                          const char *body, pn_http_done_fn done, void *arg,
                          pn_http_transfer **transfer);
/* `POST /predictions/{id}/cancel`. */
int pn_cog_cancel_prediction(pn_http_client *client, const pn_cog_server *server, const char *id,
                             pn_http_done_fn done, void *arg, pn_http_transfer **transfer);

#endif
