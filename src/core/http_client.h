/* Outgoing HTTP on the event loop: libcurl's multi interface driven by libevent, so
 * input downloads, output uploads, webhooks and the hub's calls to model servers
 * never block the loop. One client per loop; any number of transfers at once. */
#ifndef PN_CORE_HTTP_CLIENT_H
#define PN_CORE_HTTP_CLIENT_H

#include "core/buf.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

/* Redirects followed when a request asks to follow them, as requests and browsers. */
#define PN_HTTP_MAX_REDIRECTS 10

typedef struct pn_http_client pn_http_client;
typedef struct pn_http_transfer pn_http_transfer;

typedef struct pn_http_request {
  const char *method;          /* "GET", "POST", "PUT", ... */
  const char *url;
  const char *const *headers;  /* "Name: value" strings, NULL-terminated; may be NULL */
  const void *body;            /* request body bytes, or NULL */
  size_t body_length;
  const char *upload_path;     /* send this file as the body instead (PUT uploads) */
  const char *download_path;   /* write the response body to this file instead of memory */
  size_t max_response;         /* ceiling on the body kept in memory or written, counted
                                  after decompression; 0: 64 MiB */
  long connect_timeout_ms;     /* 0: 10 s */
  long timeout_ms;             /* whole transfer; 0: none */
  long low_speed_timeout_s;    /* abort when under 1 byte/s for this long; 0: none */
  int follow_redirects;        /* at most PN_HTTP_MAX_REDIRECTS; http and https only */
  const char *user_agent;      /* NULL: "pinion/<version>" */
  const char *unix_socket;     /* connect through this unix socket (the URL's host only
                                  names the Host header); NULL: the URL's address, or the
                                  client's route (pn_http_client_route_unix) */
} pn_http_request;

typedef struct pn_http_response {
  int ok;              /* the transfer completed (any HTTP status) */
  long status;         /* HTTP status, 0 when none came */
  const char *error;   /* why the transfer failed, when !ok; a curl message */
  pn_buf *body;        /* the body, when not downloaded to a file */
  const char *location;     /* the Location header, or NULL */
  const char *content_type; /* or NULL */
  const char *effective_url;
  size_t bytes;        /* body bytes received */
  double seconds;      /* total time */
} pn_http_response;

/* Where a transfer stands: bytes so far and expected (0 when not known yet). */
typedef struct pn_http_progress {
  const char *url;
  uint64_t down_now, down_total, up_now, up_total;
} pn_http_progress;
typedef void (*pn_http_progress_fn)(const pn_http_progress *progress, void *arg);

/* Called once per transfer with everything borrowed for the call. */
typedef void (*pn_http_done_fn)(const pn_http_response *response, void *arg);

int pn_http_client_new(struct event_base *base, pn_http_client **client);
/* Cancels what is in flight (without callbacks) and frees the client. */
void pn_http_client_free(pn_http_client *client);
/* Starts a transfer. Strings in `request` are copied. *transfer (may be NULL) can
 * cancel it until its callback ran. Fails with PN_EUNSUPPORTED (logged with the
 * option and libcurl's reason) when libcurl refuses an option that limits protocols,
 * redirects, sizes or times: a transfer never runs without its limits. */
int pn_http_client_send(pn_http_client *client, const pn_http_request *request,
                        pn_http_done_fn done, void *arg, pn_http_transfer **transfer);
/* Stops a transfer; its callback will not run. */
void pn_http_transfer_cancel(pn_http_transfer *transfer);
/* Calls `progress` as libcurl reports each later transfer's bytes (often: callers
 * throttle their drawing); NULL stops it. For the CLI's progress on a terminal. */
void pn_http_client_on_progress(pn_http_client *client, pn_http_progress_fn progress, void *arg);
/* Later requests to URLs of `origin` ("http://HOST:PORT", no trailing slash; matched
 * exactly, followed by '/', '?' or the end) connect through the unix socket
 * `socket_path` instead of the network, and so do their redirects: a model server in a
 * sandbox without the host's network reaches the hub's internal listener this way
 * while its URLs stay the hub's. One route per client; NULL origin removes it. Both
 * strings are copied. */
int pn_http_client_route_unix(pn_http_client *client, const char *origin, const char *socket_path);
/* Transfers in flight. */
size_t pn_http_client_active(const pn_http_client *client);

#endif
