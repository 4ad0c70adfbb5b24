/* Accepting HTTP connections with limits. See listen.h.
 *
 * evhttp hides its connections, so this module learns of each one through the
 * bufferevent it asks us to create (evhttp_set_bevcb), and learns of its end by the
 * socket: our bufferevents are made without BEV_OPT_CLOSE_ON_FREE, so evhttp closes
 * the fd itself, synchronously, in the same call that frees the connection. A tracker
 * remembers the fd with its device and inode; while fstat() still finds that same
 * socket there, the connection (and its evhttp_connection) is alive. A sweep four
 * times a second (fifty at the cap) drops trackers whose socket went, enforces request
 * deadlines and resumes accepting below the cap. */
#include "core/listen.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/log.h"
#include "core/unix_socket.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_REQUEST_SECONDS 60
#define SWEEP_US 250000
/* At the cap, a closed connection's place is given again this soon: clients wait in the
 * kernel's queues meanwhile, and the longer those stay full the likelier the kernel
 * resets one of them (see LISTEN_BACKLOG). */
#define SWEEP_AT_CAP_US 20000
#define FD_BACKOFF_US 250000
/* The kernel's queues for a listening TCP socket: connections it completed that wait
 * for accept(), and handshakes under way, are each bounded by the listen() backlog
 * (clamped to net.core.somaxconn). Past the second, the kernel answers with SYN
 * cookies and keeps no state; a cookie's handshake ACK that finds the accept queue
 * full is dropped, and a client that meanwhile sent its request in two segments (as
 * Python's http.client sends headers, then body) has its second one checked as a
 * cookie, fail, and answered with a reset. That happens at the cap, under a flood, so
 * the backlog is as large as the default cap: 128, libevent's usual value, had a flood
 * of the cap + 50 connections reset such clients (tests/integration/
 * test_serve_hostile.py, bench/soak-hub). */
#define LISTEN_BACKLOG 1024
#define WARNING_INTERVAL_NS (10ull * 1000000000ull)

typedef struct tracker {
  struct pn_listen *owner;
  int fd;
  dev_t device;
  ino_t inode;
  struct evhttp_connection *connection;
  uint64_t deadline_ns; /* the next request must have arrived by then; 0: none */
} tracker;

struct pn_listen {
  struct event_base *base;
  struct evhttp *http;
  struct evconnlistener *listener; /* owned by evhttp once bound */
  pn_listen_options limits;
  uint64_t request_ns;
  void (*handler)(struct evhttp_request *request, void *arg);
  void *arg;
  tracker **by_fd; /* indexed by fd */
  size_t by_fd_size;
  size_t open; /* trackers, plus bufferevents waiting to become one */
  struct bufferevent **pending;
  size_t pending_count, pending_capacity;
  struct event *register_event;
  struct event *sweep;
  struct event *resume;
  int paused_at_cap, paused_for_fds;
  int sweeping_at_cap; /* the sweep runs every SWEEP_AT_CAP_US, not SWEEP_US */
  uint64_t fd_warning_ns, cap_warning_ns; /* warnings come once per interval */
  struct pn_listen *next;                 /* in `listens` */
  size_t fd_failures;                     /* accept() failures since the last warning */
};

/* Every open pn_listen: a listener's error callback gets the argument evhttp gave
 * its accept callback (the evhttp), so it finds its pn_listen here. */
static pn_listen *listens;

/* --- limits ------------------------------------------------------------------- */

long pn_listen_raise_fd_limit(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
    return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
      getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur == RLIM_INFINITY ? -1 : (long)limit.rlim_cur;
}

/* Sweeps while connections are open: every SWEEP_US, or SWEEP_AT_CAP_US at the cap.
 * A sweep already due at the right pace is left as it is. */
static void schedule_sweep(pn_listen *listen) {
  int at_cap = listen->paused_at_cap;
  if (!listen->open ||
      (event_pending(listen->sweep, EV_TIMEOUT, NULL) && listen->sweeping_at_cap == at_cap))
    return;
  listen->sweeping_at_cap = at_cap;
  struct timeval every = {0, at_cap ? SWEEP_AT_CAP_US : SWEEP_US};
  event_add(listen->sweep, &every);
}

static void update_accepting(pn_listen *listen) {
  int at_cap = listen->open >= listen->limits.max_connections;
  uint64_t now = pn_clock_monotonic_ns();
  if (at_cap && !listen->paused_at_cap &&
      (!listen->cap_warning_ns || now - listen->cap_warning_ns >= WARNING_INTERVAL_NS)) {
    listen->cap_warning_ns = now;
    pn_warn("%zu connections are open (the limit; PINION_MAX_CONNECTIONS raises it): not "
            "accepting more until one closes",
            listen->open);
  }
  listen->paused_at_cap = at_cap;
  if (at_cap || listen->paused_for_fds)
    evconnlistener_disable(listen->listener);
  else
    evconnlistener_enable(listen->listener);
  schedule_sweep(listen);
}

/* --- trackers ----------------------------------------------------------------- */

static int same_socket(const tracker *item) {
  struct stat status;
  return fstat(item->fd, &status) == 0 && status.st_dev == item->device &&
         status.st_ino == item->inode;
}

static void forget(pn_listen *listen, tracker *item) {
  listen->by_fd[item->fd] = NULL;
  listen->open--;
  pn_free(item);
}

static void track(pn_listen *listen, int fd, struct evhttp_connection *connection) {
  struct stat status;
  if (fd < 0 || fstat(fd, &status) < 0)
    return;
  if ((size_t)fd >= listen->by_fd_size) {
    size_t size = listen->by_fd_size ? listen->by_fd_size : 64;
    while (size <= (size_t)fd)
      size *= 2;
    tracker **grown = pn_realloc(listen->by_fd, size * sizeof *grown);
    if (!grown)
      return;
    memset(grown + listen->by_fd_size, 0, (size - listen->by_fd_size) * sizeof *grown);
    listen->by_fd = grown;
    listen->by_fd_size = size;
  }
  if (listen->by_fd[fd]) /* its connection closed and the fd came back before a sweep */
    forget(listen, listen->by_fd[fd]);
  tracker *item = pn_calloc(1, sizeof *item);
  if (!item)
    return;
  item->owner = listen;
  item->fd = fd;
  item->device = status.st_dev;
  item->inode = status.st_ino;
  item->connection = connection;
  item->deadline_ns = pn_clock_monotonic_ns() + listen->request_ns;
  listen->by_fd[fd] = item;
  listen->open++;
}

static tracker *tracker_of(pn_listen *listen, struct evhttp_request *request) {
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  struct bufferevent *events = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
  evutil_socket_t fd = events ? bufferevent_getfd(events) : -1;
  if (fd < 0 || (size_t)fd >= listen->by_fd_size)
    return NULL;
  tracker *item = listen->by_fd[fd];
  return item && item->connection == connection ? item : NULL;
}

/* --- answers -------------------------------------------------------------------- */

/* The JSON answer that replaces evhttp's HTML error page for `status`, `reason` being
 * its text: a pn_malloc'd HTTP/1.1 response with Connection: close. */
static char *error_response(int status, const char *reason, const pn_listen_options *limits) {
  char *detail;
  switch (status) {
  case 400:
    detail = pn_strfmt("Bad Request: the request line or headers could not be read (malformed, "
                       "or longer than %zu bytes)",
                       limits->max_headers);
    break;
  case 408:
    detail = pn_strfmt("Request Timeout: the request did not arrive in full within %g seconds",
                       limits->request_seconds);
    break;
  case 413:
    detail = pn_strfmt("Payload Too Large: the request's headers (at most %zu bytes) or body "
                       "(at most %zu bytes) are larger than this server accepts",
                       limits->max_headers, limits->max_body);
    break;
  case 501:
    detail = pn_strdup("Not Implemented: this server does not support the request's method");
    break;
  default:
    detail = pn_strdup(reason);
  }
  if (!detail)
    return NULL;
  char *body = pn_strfmt("{\"detail\":\"%s\"}", detail);
  pn_free(detail);
  if (!body)
    return NULL;
  char *response = pn_strfmt("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             status, reason, strlen(body), body);
  pn_free(body);
  return response;
}

/* libevent 2.1 has no hook for its own error pages, so they are replaced as they
 * reach the connection's output buffer, before anything is written to the socket:
 * evhttp_send_error adds the status line and headers, then a page that ends with
 * this line. */
static const char html_page_end[] = "</BODY></HTML>\n";
#define HTML_PAGE_END_LENGTH (sizeof html_page_end - 1)

static int rewriting;

static void on_output_added(struct evbuffer *output, const struct evbuffer_cb_info *info,
                            void *arg) {
  pn_listen *listen = arg;
  size_t length = evbuffer_get_length(output);
  /* An error page comes in small pieces; a large addition (a reply body, perhaps a file
   * segment that only sendfile can read) is never one and is not looked into. */
  if (rewriting || info->n_added == 0 || info->n_added > PN_LISTEN_INSPECTED_MAX ||
      length < HTML_PAGE_END_LENGTH)
    return;
  char end[HTML_PAGE_END_LENGTH];
  struct evbuffer_ptr at;
  if (evbuffer_ptr_set(output, &at, length - HTML_PAGE_END_LENGTH, EVBUFFER_PTR_SET) < 0 ||
      evbuffer_copyout_from(output, &at, end, sizeof end) != (ev_ssize_t)sizeof end ||
      memcmp(end, html_page_end, sizeof end) != 0)
    return;
  /* The error response starts at the last status line; anything before it is an
   * earlier answer on the same connection, still being written. */
  struct evbuffer_ptr start = evbuffer_search(output, "HTTP/1.", 7, NULL);
  if (start.pos < 0)
    return;
  for (;;) {
    struct evbuffer_ptr next = start;
    if (evbuffer_ptr_set(output, &next, 1, EVBUFFER_PTR_ADD) < 0)
      break;
    next = evbuffer_search(output, "HTTP/1.", 7, &next);
    if (next.pos < 0)
      break;
    start = next;
  }
  size_t error_length = length - (size_t)start.pos;
  if (error_length > PN_LISTEN_INSPECTED_MAX)
    return;
  char text[PN_LISTEN_INSPECTED_MAX + 1];
  evbuffer_copyout_from(output, &start, text, error_length);
  text[error_length] = '\0';
  int status = 0;
  char reason[64] = "Error";
  if (sscanf(text, "HTTP/1.%*d %d %63[A-Za-z -]", &status, reason) < 1)
    return;
  char *response = error_response(status, reason, &listen->limits);
  struct evbuffer *earlier = evbuffer_new();
  if (!response || !earlier) {
    pn_free(response);
    if (earlier)
      evbuffer_free(earlier);
    return;
  }
  rewriting = 1;
  evbuffer_remove_buffer(output, earlier, (size_t)start.pos);
  evbuffer_drain(output, evbuffer_get_length(output));
  evbuffer_add_buffer(output, earlier);
  evbuffer_add(output, response, strlen(response));
  rewriting = 0;
  evbuffer_free(earlier);
  pn_free(response);
}

/* A request with two Content-Lengths could be read one way here and another way by a
 * proxy in front: request smuggling. evhttp reads the first; it is refused instead,
 * and the connection closed. (evhttp itself refuses Content-Length beside chunked
 * Transfer-Encoding, with a 400 that on_output_added turns into JSON.) */
static int ambiguous_framing(struct evhttp_request *request) {
  struct evkeyvalq *headers = evhttp_request_get_input_headers(request);
  int lengths = 0;
  for (struct evkeyval *header = headers->tqh_first; header; header = header->next.tqe_next)
    lengths += strcasecmp(header->key, "Content-Length") == 0;
  return lengths > 1;
}

static void refuse_framing(struct evhttp_request *request) {
  static const char body[] =
      "{\"detail\":\"Bad Request: the request has more than one Content-Length header; send "
      "exactly one\"}";
  struct evbuffer *buffer = evbuffer_new();
  if (buffer)
    evbuffer_add(buffer, body, sizeof body - 1);
  struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", "application/json");
  evhttp_add_header(headers, "Connection", "close");
  evhttp_send_reply(request, 400, "Bad Request", buffer);
  if (buffer)
    evbuffer_free(buffer);
}

/* libevent 2.1 reads no body for HEAD and TRACE (evhttp_method_may_have_body): the
 * bytes of one sent anyway stay in the input and are read as the next request on the
 * connection, which behind a proxy that shares connections would be another client's
 * (request smuggling). Such a request is answered, and the connection closed. */
static int body_left_unread(struct evhttp_request *request) {
  enum evhttp_cmd_type type = evhttp_request_get_command(request);
  if (type != EVHTTP_REQ_HEAD && type != EVHTTP_REQ_TRACE)
    return 0;
  struct evkeyvalq *headers = evhttp_request_get_input_headers(request);
  const char *length = evhttp_find_header(headers, "Content-Length");
  return evhttp_find_header(headers, "Transfer-Encoding") != NULL ||
         (length && strspn(length, "0") != strlen(length));
}

/* The next request on a kept-alive connection has the same time to arrive. */
static void on_answered(struct evhttp_request *request, void *arg) {
  tracker *item = arg;
  item->deadline_ns = pn_clock_monotonic_ns() + item->owner->request_ns;
}

static void on_request(struct evhttp_request *request, void *arg) {
  pn_listen *listen = arg;
  tracker *item = tracker_of(listen, request);
  if (item) {
    item->deadline_ns = 0;
    evhttp_request_set_on_complete_cb(request, on_answered, item);
  }
  if (ambiguous_framing(request)) {
    refuse_framing(request);
    return;
  }
  if (body_left_unread(request))
    evhttp_add_header(evhttp_request_get_output_headers(request), "Connection", "close");
  listen->handler(request, listen->arg);
}

/* --- connections ------------------------------------------------------------------ */

/* A client that has not sent its whole request in time gets a 408 (written straight
 * to the socket: nothing else is queued on a connection still reading its request)
 * and is closed. */
static void expire(pn_listen *listen, tracker *item) {
  char *response = error_response(408, "Request Timeout", &listen->limits);
  if (response)
    (void)!send(item->fd, response, strlen(response), MSG_NOSIGNAL | MSG_DONTWAIT);
  pn_free(response);
  struct evhttp_connection *connection = item->connection;
  forget(listen, item);
  evhttp_connection_free(connection);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg) {
  pn_listen *listen = arg;
  uint64_t now = pn_clock_monotonic_ns();
  for (size_t i = 0; i < listen->by_fd_size; i++) {
    tracker *item = listen->by_fd[i];
    if (!item)
      continue;
    if (!same_socket(item))
      forget(listen, item);
    else if (item->deadline_ns && now > item->deadline_ns)
      expire(listen, item);
  }
  if (listen->paused_at_cap)
    update_accepting(listen);
  if (listen->open == 0)
    event_del(listen->sweep);
}

static void on_register(evutil_socket_t fd, short what, void *arg) {
  pn_listen *listen = arg;
  for (size_t i = 0; i < listen->pending_count; i++) {
    struct bufferevent *events = listen->pending[i];
    bufferevent_data_cb read_callback = NULL;
    void *connection = NULL;
    bufferevent_getcb(events, &read_callback, NULL, NULL, &connection);
    listen->open--; /* counted while pending; track() counts it again */
    /* evhttp sets its callbacks on a connection it made and clears them when it
     * frees one; the reference taken in make_bufferevent kept this one readable. */
    if (read_callback && connection)
      track(listen, bufferevent_getfd(events), connection);
    bufferevent_decref(events);
  }
  listen->pending_count = 0;
  update_accepting(listen); /* and schedule_sweep */
}

/* evhttp asks for the bufferevent of each connection it accepts: the moment a new
 * connection becomes known. Its fd and evhttp_connection are set once the accept
 * callback returns, so they are read a moment later, in on_register. */
static struct bufferevent *make_bufferevent(struct event_base *base, void *arg) {
  pn_listen *listen = arg;
  if (listen->pending_count == listen->pending_capacity) {
    size_t capacity = listen->pending_capacity ? listen->pending_capacity * 2 : 16;
    struct bufferevent **grown = pn_realloc(listen->pending, capacity * sizeof *grown);
    if (!grown)
      return NULL;
    listen->pending = grown;
    listen->pending_capacity = capacity;
  }
  /* No BEV_OPT_CLOSE_ON_FREE: evhttp then closes the fd itself when it frees the
   * connection, which is how this module sees connections end. */
  struct bufferevent *events = bufferevent_socket_new(base, -1, 0);
  if (!events)
    return NULL;
  evbuffer_add_cb(bufferevent_get_output(events), on_output_added, listen);
  bufferevent_incref(events);
  listen->pending[listen->pending_count++] = events;
  listen->open++;
  event_active(listen->register_event, EV_TIMEOUT, 0);
  if (listen->open >= listen->limits.max_connections)
    update_accepting(listen);
  return events;
}

/* --- accept() failures ------------------------------------------------------------- */

static void on_resume(evutil_socket_t fd, short what, void *arg) {
  pn_listen *listen = arg;
  listen->paused_for_fds = 0;
  update_accepting(listen);
}

/* The listening socket stays readable while accept() fails, so without a pause the
 * loop would spin on it. */
static void on_accept_error(struct evconnlistener *listener, void *arg) {
  pn_listen *listen = listens;
  while (listen && listen->listener != listener)
    listen = listen->next;
  if (!listen)
    return;
  int error = EVUTIL_SOCKET_ERROR();
  listen->fd_failures++;
  uint64_t now = pn_clock_monotonic_ns();
  if (!listen->fd_warning_ns || now - listen->fd_warning_ns >= WARNING_INTERVAL_NS) {
    if (error == EMFILE || error == ENFILE)
      pn_warn("cannot accept connections: out of file descriptors (%zu open connections, %zu "
              "failures since the last warning); pausing %d ms at a time. Raise `ulimit -n` "
              "or lower PINION_MAX_CONNECTIONS",
              listen->open, listen->fd_failures, FD_BACKOFF_US / 1000);
    else
      pn_warn("cannot accept connections: %s (%zu failures since the last warning); pausing "
              "%d ms at a time",
              strerror(error), listen->fd_failures, FD_BACKOFF_US / 1000);
    listen->fd_warning_ns = now;
    listen->fd_failures = 0;
  }
  listen->paused_for_fds = 1;
  evconnlistener_disable(listener);
  struct timeval pause = {0, FD_BACKOFF_US};
  event_add(listen->resume, &pause);
}

/* --- life cycle ------------------------------------------------------------------- */

static void resolve_limits(pn_listen *listen, const pn_listen_options *options) {
  listen->limits = *options;
  listen->limits.host = NULL;
  listen->limits.unix_path = NULL;
  if (!listen->limits.max_connections)
    listen->limits.max_connections = (size_t)pn_env_number("PINION_MAX_CONNECTIONS", "connections",
                                                           1, 1000000, DEFAULT_MAX_CONNECTIONS);
  if (listen->limits.request_seconds <= 0)
    listen->limits.request_seconds =
        pn_env_number("PINION_REQUEST_TIMEOUT", "seconds", 0.1, 86400, DEFAULT_REQUEST_SECONDS);
  listen->request_ns = (uint64_t)(listen->limits.request_seconds * 1e9);
}

static struct evconnlistener *bind_listener(pn_listen *listen, const char *host, int port) {
  struct addrinfo hints = {0}, *found = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  if (getaddrinfo(host, service, &hints, &found) != 0 || !found)
    return NULL;
  struct evconnlistener *listener = NULL;
  for (struct addrinfo *address = found; address && !listener; address = address->ai_next)
    listener = evconnlistener_new_bind(
        listen->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        LISTEN_BACKLOG, address->ai_addr, (int)address->ai_addrlen);
  freeaddrinfo(found);
  return listener;
}

static struct evconnlistener *bind_unix_listener(pn_listen *listen, const char *path, int *rc) {
  int fd = -1;
  *rc = pn_unix_listen(path, &fd);
  if (*rc < 0)
    return NULL;
  struct evconnlistener *listener = evconnlistener_new(
      listen->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
  if (!listener) {
    close(fd);
    *rc = PN_ENOMEM;
  }
  return listener;
}

int pn_listen_open(struct event_base *base, struct evhttp *http, const pn_listen_options *options,
                   void (*handler)(struct evhttp_request *request, void *arg), void *arg,
                   pn_listen **out, int *actual_port) {
  *out = NULL;
  pn_debug("open files: at most %ld", pn_listen_raise_fd_limit());
  pn_listen *listen = pn_calloc(1, sizeof *listen);
  if (!listen)
    return PN_ENOMEM;
  listen->base = base;
  listen->http = http;
  listen->handler = handler;
  listen->arg = arg;
  resolve_limits(listen, options);
  listen->register_event = event_new(base, -1, 0, on_register, listen);
  listen->sweep = event_new(base, -1, EV_PERSIST, on_sweep, listen);
  listen->resume = evtimer_new(base, on_resume, listen);
  if (!listen->register_event || !listen->sweep || !listen->resume) {
    pn_listen_free(listen);
    return PN_ENOMEM;
  }
  int rc = PN_EIO;
  listen->listener = options->unix_path ? bind_unix_listener(listen, options->unix_path, &rc)
                                        : bind_listener(listen, options->host, options->port);
  if (!listen->listener || !evhttp_bind_listener(http, listen->listener)) {
    int saved = errno;
    if (listen->listener) {
      evconnlistener_free(listen->listener);
      rc = PN_EIO;
    }
    pn_listen_free(listen);
    errno = saved;
    return rc;
  }
  evconnlistener_set_error_cb(listen->listener, on_accept_error);
  listen->next = listens;
  listens = listen;
  evhttp_set_bevcb(http, make_bufferevent, listen);
  evhttp_set_gencb(http, on_request, listen);
  struct sockaddr_storage address;
  socklen_t size = sizeof address;
  *actual_port = options->unix_path ? 0 : options->port;
  if (!options->unix_path &&
      getsockname(evconnlistener_get_fd(listen->listener), (struct sockaddr *)&address, &size) == 0)
    *actual_port = address.ss_family == AF_INET6
                       ? ntohs(((struct sockaddr_in6 *)&address)->sin6_port)
                       : ntohs(((struct sockaddr_in *)&address)->sin_port);
  *out = listen;
  return 0;
}

size_t pn_listen_connections(pn_listen *listen) { return listen->open; }

void pn_listen_free(pn_listen *listen) {
  if (!listen)
    return;
  for (pn_listen **at = &listens; *at; at = &(*at)->next) {
    if (*at == listen) {
      *at = listen->next;
      break;
    }
  }
  for (size_t i = 0; i < listen->by_fd_size; i++)
    pn_free(listen->by_fd[i]);
  pn_free(listen->by_fd);
  for (size_t i = 0; i < listen->pending_count; i++)
    bufferevent_decref(listen->pending[i]);
  pn_free(listen->pending);
  if (listen->register_event)
    event_free(listen->register_event);
  if (listen->sweep)
    event_free(listen->sweep);
  if (listen->resume)
    event_free(listen->resume);
  pn_free(listen);
}

void pn_listen_release_request(struct evhttp_request *request) {
  if (request && !evhttp_request_get_connection(request))
    evhttp_request_free(request);
}
