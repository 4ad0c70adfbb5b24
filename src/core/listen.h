/* The listening side of pinion's HTTP servers (serve and hub), hardened against
 * hostile clients the way nginx is:
 *
 *  - a cap on open connections: at the cap the listener stops accepting (clients wait
 *    in the kernel's backlog) until a connection closes;
 *  - a total time for each request to arrive, headers and body together, counted from
 *    the connection's start or from the end of the previous answer: a client that
 *    trickles bytes (slowloris) is answered 408 and closed, which evhttp's own timeout
 *    cannot do, since it counts only idle gaps;
 *  - when accept() fails for want of file descriptors (EMFILE, ENFILE) the listener
 *    backs off for a moment instead of spinning on a socket that stays readable, and
 *    says so once per interval instead of once per failure;
 *  - the soft RLIMIT_NOFILE is raised to the hard limit when listening starts;
 *  - evhttp's own error answers (400, 413, 501, ...), HTML in libevent 2.1, are
 *    rewritten to JSON bodies on their way out, and a request with more than one
 *    Content-Length gets a JSON 400 and is closed;
 *  - a HEAD or TRACE request that declares a body (which evhttp does not read) is
 *    answered and its connection closed, so that the body is never read as a request.
 *
 * Connections are noticed through evhttp's bufferevent callback, and their end by
 * the socket going away (the fd closes, or comes back as another file): nothing
 * depends on evhttp's connection close callback, which request handlers keep using. */
#ifndef PN_CORE_LISTEN_H
#define PN_CORE_LISTEN_H

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>

typedef struct pn_listen pn_listen;

/* The error answers are found by copying out the end of each small addition to a
 * connection's output (at most this many bytes): a reply body that only sendfile can
 * read (EVBUFFER_FLAG_DRAINS_TO_FD, whose bytes are never in memory) must be larger,
 * or copying it out crashes. Smaller bodies go out from memory. */
#define PN_LISTEN_INSPECTED_MAX 2048

typedef struct pn_listen_options {
  const char *host;
  int port;               /* 0: any free port */
  const char *unix_path;  /* listen on this unix socket instead of host:port (a socket
                             left there by an earlier run is replaced; any other file
                             is not; core/unix_socket.h) */
  size_t max_connections; /* 0: PINION_MAX_CONNECTIONS, else 1024 */
  double request_seconds; /* 0: PINION_REQUEST_TIMEOUT, else 60 */
  size_t max_headers;     /* for the 413 message; the caller sets evhttp's limits */
  size_t max_body;
} pn_listen_options;

/* Binds host:port (or unix_path) for `http` and routes every complete request to
 * `handler` (replacing evhttp's generic callback). *actual_port is the port bound (0
 * for a unix socket). Returns 0, or a negative PN_E* code (PN_EIO when the address
 * cannot be bound, with errno saying why; PN_EEXISTS when a file that is not a socket
 * is at unix_path). The pn_listen must be
 * freed with pn_listen_free after evhttp_free(http). */
int pn_listen_open(struct event_base *base, struct evhttp *http, const pn_listen_options *options,
                   void (*handler)(struct evhttp_request *request, void *arg), void *arg,
                   pn_listen **listen, int *actual_port);
/* Open connections, as last counted (closed ones are noticed within a quarter second). */
size_t pn_listen_connections(pn_listen *listen);
void pn_listen_free(pn_listen *listen);

/* Raises the soft limit on open files to the hard limit; returns the soft limit now
 * (-1: unlimited). pn_listen_open calls it. */
long pn_listen_raise_fd_limit(void);

/* libevent 2.1 hands a request back to its user when the client hangs up (or times
 * out) before the answer: the request is taken off its connection and not freed, and
 * the user must end it. A connection's close callback calls this with the request it
 * was holding: it frees a request handed back that way, and leaves alone one that the
 * connection still owns (when evhttp_free closes every connection, it frees those). */
void pn_listen_release_request(struct evhttp_request *request);

#endif
