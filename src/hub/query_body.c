/* Reading a QUERY request's body through the loop (query_body.h).
 *
 * libevent 2.1 dispatches a request with an unknown method once its headers are
 * parsed, with reading disabled on the connection and the body left in the
 * bufferevent's input (or still in the socket). When the input already holds
 * Content-Length bytes they are taken at once. Otherwise the connection's bufferevent
 * callbacks are lent to us: ours gather the rest as it arrives while the loop serves
 * everyone else, then evhttp's callbacks are put back (with reading disabled again, as
 * evhttp expects while a request awaits its reply) before the route runs. A timer
 * bounds the wait; a close callback frees the wait when the connection goes first
 * (e.g. the hub stops). Bytes past the body stay in the input for the next request. */
#include "hub/query_body.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/listen.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct body_wait {
  pn_hub *hub;
  struct evhttp_request *request;
  struct evhttp_connection *connection;
  struct bufferevent *events;
  pn_hub_body_ready_fn ready;
  size_t wanted;
  pn_buf body;
  struct event *timer;
  /* evhttp's own callbacks, put back when the body is in */
  bufferevent_data_cb evhttp_read, evhttp_write;
  bufferevent_event_cb evhttp_event;
  void *evhttp_arg;
} body_wait;

/* Answers a problem and closes the connection: the rest of the body may still come,
 * and must not be read as the next request. */
static void refuse(pn_hub *hub, struct evhttp_request *request, int status, const char *detail) {
  pn_hub_request reply = {.hub = hub, .request = request};
  pn_hub_header(&reply, "Connection", "close");
  pn_hub_problem(&reply, status, NULL, "%s", detail);
}

/* The Content-Length as a number: -1 when absent, -2 when malformed. */
static long long content_length(struct evhttp_request *request) {
  const char *text =
      evhttp_find_header(evhttp_request_get_input_headers(request), "Content-Length");
  if (!text)
    return -1;
  if (!*text || strlen(text) > 18 || strspn(text, "0123456789") != strlen(text))
    return -2;
  return strtoll(text, NULL, 10);
}

/* Puts evhttp's callbacks back and frees the wait; the request lives on. */
static void end_wait(body_wait *wait) {
  bufferevent_disable(wait->events, EV_READ);
  bufferevent_setcb(wait->events, wait->evhttp_read, wait->evhttp_write, wait->evhttp_event,
                    wait->evhttp_arg);
  evhttp_connection_set_closecb(wait->connection, NULL, NULL);
  event_free(wait->timer);
  pn_buf_free(&wait->body);
  pn_free(wait);
}

static void take_input(body_wait *wait) {
  struct evbuffer *input = bufferevent_get_input(wait->events);
  size_t missing = wait->wanted - wait->body.length;
  size_t available = evbuffer_get_length(input);
  size_t count = available < missing ? available : missing;
  if (count && pn_buf_reserve(&wait->body, count) == 0) {
    evbuffer_remove(input, wait->body.data + wait->body.length, count);
    wait->body.length += count;
    wait->body.data[wait->body.length] = '\0';
  }
}

static void on_read(struct bufferevent *events, void *arg) {
  body_wait *wait = arg;
  take_input(wait);
  if (wait->body.length < wait->wanted)
    return;
  pn_hub *hub = wait->hub;
  struct evhttp_request *request = wait->request;
  pn_hub_body_ready_fn ready = wait->ready;
  pn_buf body = wait->body;
  pn_buf_init(&wait->body, 1); /* the body moves out; end_wait frees an empty one */
  end_wait(wait);
  ready(hub, request, (const unsigned char *)body.data, body.length);
  pn_buf_free(&body);
}

static void on_event(struct bufferevent *events, short what, void *arg) {
  body_wait *wait = arg;
  pn_hub *hub = wait->hub;
  struct evhttp_request *request = wait->request;
  end_wait(wait);
  /* The reply cannot reach a client that closed; evhttp then frees the connection. */
  refuse(hub, request, 400, "The connection failed before the request body arrived.");
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
  body_wait *wait = arg;
  pn_hub *hub = wait->hub;
  struct evhttp_request *request = wait->request;
  size_t got = wait->body.length, wanted = wait->wanted;
  end_wait(wait);
  char detail[200];
  snprintf(detail, sizeof detail,
           "The request body did not arrive within %d s (%zu of %zu bytes). Send the whole "
           "body with the request.",
           PN_HUB_QUERY_BODY_SECONDS, got, wanted);
  refuse(hub, request, 408, detail);
}

/* The connection went away while we waited (the hub is stopping, or evhttp gave up on
 * it): the request goes with it (or, handed back by libevent, is freed here), and the
 * wait is freed. */
static void on_close(struct evhttp_connection *connection, void *arg) {
  body_wait *wait = arg;
  pn_listen_release_request(wait->request);
  event_free(wait->timer);
  pn_buf_free(&wait->body);
  pn_free(wait);
}

static int start_wait(pn_hub *hub, struct evhttp_request *request, size_t wanted,
                      pn_hub_body_ready_fn ready) {
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  struct bufferevent *events = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
  body_wait *wait = events ? pn_calloc(1, sizeof *wait) : NULL;
  if (!wait)
    return -1;
  wait->hub = hub;
  wait->request = request;
  wait->connection = connection;
  wait->events = events;
  wait->ready = ready;
  wait->wanted = wanted;
  pn_buf_init(&wait->body, PN_HUB_QUERY_BODY_MAX + 1);
  wait->timer = evtimer_new(hub->base, on_timeout, wait);
  if (!wait->timer || pn_buf_reserve(&wait->body, wanted) < 0) {
    if (wait->timer)
      event_free(wait->timer);
    pn_buf_free(&wait->body);
    pn_free(wait);
    return -1;
  }
  take_input(wait);
  bufferevent_getcb(events, &wait->evhttp_read, &wait->evhttp_write, &wait->evhttp_event,
                    &wait->evhttp_arg);
  bufferevent_setcb(events, on_read, wait->evhttp_write, on_event, wait);
  evhttp_connection_set_closecb(connection, on_close, wait);
  struct timeval limit = {PN_HUB_QUERY_BODY_SECONDS, 0};
  evtimer_add(wait->timer, &limit);
  bufferevent_enable(events, EV_READ);
  return 0;
}

void pn_hub_read_unknown_body(pn_hub *hub, struct evhttp_request *request,
                              pn_hub_body_ready_fn ready) {
  struct evkeyvalq *headers = evhttp_request_get_input_headers(request);
  const char *encoding = evhttp_find_header(headers, "Transfer-Encoding");
  long long length = content_length(request);
  if (encoding && strcasecmp(encoding, "identity") != 0) {
    refuse(hub, request, 411,
           "A QUERY request's body needs a Content-Length (not Transfer-Encoding: chunked).");
    return;
  }
  if (length == -2) {
    refuse(hub, request, 400, "The Content-Length header is not a number of bytes.");
    return;
  }
  if (length > (long long)PN_HUB_QUERY_BODY_MAX) {
    char detail[160];
    snprintf(detail, sizeof detail,
             "The QUERY body is %lld bytes, over the limit of %zu bytes. Send a shorter query.",
             length, PN_HUB_QUERY_BODY_MAX);
    refuse(hub, request, 413, detail);
    return;
  }
  if (length <= 0) {
    ready(hub, request, NULL, 0);
    return;
  }
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  struct bufferevent *events = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
  struct evbuffer *input = events ? bufferevent_get_input(events) : NULL;
  if (input && evbuffer_get_length(input) >= (size_t)length) {
    unsigned char *body = pn_malloc((size_t)length);
    if (body) {
      evbuffer_remove(input, body, (size_t)length);
      ready(hub, request, body, (size_t)length);
      pn_free(body);
      return;
    }
  } else if (start_wait(hub, request, (size_t)length, ready) == 0) {
    return;
  }
  refuse(hub, request, 503, "The hub ran out of memory reading the request body. Retry.");
}
