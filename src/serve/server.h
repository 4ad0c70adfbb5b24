/* `pinion serve`: Cog's HTTP prediction API (spec §4) over evhttp, on one libevent
 * loop that owns every prediction's state. Routes: GET /, /health-check,
 * /openapi.json; POST /predictions (sync, Prefer: respond-async, or SSE), PUT
 * /predictions/{id}, POST /predictions/{id}/cancel, the /trainings equivalents, and
 * POST /shutdown. */
#ifndef PN_SERVE_SERVER_H
#define PN_SERVE_SERVER_H

#include "serve/model.h"

typedef struct pn_server_options {
  const char *host;             /* default 0.0.0.0 */
  int port;                     /* default $PORT, else 5000; 0 picks a free port */
  const char *unix_socket;      /* listen on this unix socket instead of host and port */
  /* Requests to URLs of hub_url's origin (webhooks, uploads, input files of the hub
   * that started this server) go through the unix socket hub_socket: the hub's
   * sandboxes have no network of the host's (--x-hub-url, --x-hub-socket). */
  const char *hub_url;
  const char *hub_socket;
  /* --x-wait-fd: read one byte from this fd (then close it) before anything of the
   * model's runs: the hub's sandboxes start the server while their network is still being
   * set up (director/sandbox_network.h). -1: none. EOF instead of the byte: exit 1. */
  int wait_fd;
  const char *upload_url;       /* PUT file outputs here */
  int await_explicit_shutdown;  /* ignore SIGTERM; stop only on POST /shutdown or SIGINT */
  const char *port_file;        /* write the bound port here once listening (tests) */
  int reload;                   /* restart the worker when the model's code changes */
  int traceback_in_logs;        /* --x-traceback-in-logs: see pn_job_options */
  pn_model_options model;
} pn_server_options;

/* Serves until shut down; returns the process exit code. Problems starting (bad
 * cog.yaml, port in use) are printed to stderr. */
int pn_server_run(const pn_server_options *options);

#endif
