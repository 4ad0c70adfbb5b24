/* Framed JSON messages between the server and its worker. The codec is pure; the
 * channel wraps a libevent bufferevent so reads and writes never block the loop. */
#include "runtime/ipc.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <string.h>
#include <sys/socket.h>

struct pn_ipc {
  struct bufferevent *events;
  pn_ipc_message_fn on_message;
  pn_ipc_closed_fn on_closed;
  void *arg;
  int closed;
};

int pn_ipc_frame_begin(pn_buf *out, size_t *start) {
  /* Reserve the header; the JSON goes straight after it, then the header is filled in. */
  static const unsigned char placeholder[4] = {0, 0, 0, 0};
  *start = out->length;
  return pn_buf_append(out, placeholder, sizeof placeholder);
}

int pn_ipc_frame_end(pn_buf *out, size_t start) {
  if (pn_buf_error(out))
    return pn_buf_error(out);
  size_t length = out->length - start - 4;
  if (length > PN_IPC_FRAME_MAX) {
    pn_buf_free(out);
    return PN_ETOOBIG;
  }
  unsigned char *header = (unsigned char *)out->data + start;
  header[0] = (unsigned char)(length >> 24);
  header[1] = (unsigned char)(length >> 16);
  header[2] = (unsigned char)(length >> 8);
  header[3] = (unsigned char)length;
  return 0;
}

int pn_ipc_encode(const json_t *message, pn_buf *out) {
  size_t start;
  int rc = pn_ipc_frame_begin(out, &start);
  if (rc < 0)
    return rc;
  rc = pn_json_write(message, PN_JSON_SERDE_NUMBERS, out);
  return rc < 0 ? rc : pn_ipc_frame_end(out, start);
}

int pn_ipc_decode(const unsigned char *bytes, size_t length, json_t **message, size_t *consumed,
                  char **error) {
  *message = NULL;
  *consumed = 0;
  *error = NULL;
  if (length < 4)
    return 0;
  uint32_t size = (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
                  (uint32_t)bytes[3];
  if (size < 2 || size > PN_IPC_FRAME_MAX) {
    *error = pn_strfmt("frame of %u bytes is outside 2..%u", size, PN_IPC_FRAME_MAX);
    return PN_EPROTO;
  }
  if (length - 4 < size)
    return 0;
  json_error_t parse_error;
  json_t *value = json_loadb((const char *)bytes + 4, size, 0, &parse_error);
  if (!value) {
    *error = pn_strfmt("frame is not JSON: %s", parse_error.text);
    return PN_EPROTO;
  }
  if (!json_is_object(value) || !json_is_string(json_object_get(value, "type"))) {
    json_decref(value);
    *error = pn_strdup("frame is not an object with a string \"type\"");
    return PN_EPROTO;
  }
  *message = value;
  *consumed = 4 + (size_t)size;
  return 1;
}

static void finish(pn_ipc *ipc, int error, const char *reason) {
  if (ipc->closed)
    return;
  ipc->closed = 1;
  bufferevent_disable(ipc->events, EV_READ | EV_WRITE);
  ipc->on_closed(ipc, error, reason, ipc->arg);
}

static void on_readable(struct bufferevent *events, void *arg) {
  pn_ipc *ipc = arg;
  struct evbuffer *input = bufferevent_get_input(events);
  while (!ipc->closed) {
    size_t available = evbuffer_get_length(input);
    if (available < 4)
      return;
    unsigned char header[4];
    evbuffer_copyout(input, header, sizeof header);
    uint32_t size = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
                    (uint32_t)header[2] << 8 | (uint32_t)header[3];
    if (size >= 2 && size <= PN_IPC_FRAME_MAX && available < 4 + (size_t)size)
      return;
    size_t wanted = size >= 2 && size <= PN_IPC_FRAME_MAX ? 4 + (size_t)size : 4;
    unsigned char *bytes = evbuffer_pullup(input, (ev_ssize_t)wanted);
    json_t *message = NULL;
    size_t consumed = 0;
    char *error = NULL;
    int rc = pn_ipc_decode(bytes, wanted, &message, &consumed, &error);
    if (rc < 0) {
      finish(ipc, rc, error);
      pn_free(error);
      return;
    }
    evbuffer_drain(input, consumed);
    ipc->on_message(ipc, message, ipc->arg);
    json_decref(message);
  }
}

static void on_event(struct bufferevent *events, short what, void *arg) {
  pn_ipc *ipc = arg;
  if (what & BEV_EVENT_EOF) {
    on_readable(events, arg);
    finish(ipc, 0, "end of file");
  } else if (what & BEV_EVENT_ERROR) {
    finish(ipc, PN_EIO, "socket error");
  }
}

int pn_ipc_open(struct event_base *base, int fd, pn_ipc_message_fn on_message,
                pn_ipc_closed_fn on_closed, void *arg, pn_ipc **out) {
  *out = NULL;
  pn_ipc *ipc = pn_calloc(1, sizeof *ipc);
  if (!ipc)
    return PN_ENOMEM;
  evutil_make_socket_nonblocking(fd);
  ipc->events = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!ipc->events) {
    pn_free(ipc);
    return PN_ENOMEM;
  }
  ipc->on_message = on_message;
  ipc->on_closed = on_closed;
  ipc->arg = arg;
  bufferevent_setcb(ipc->events, on_readable, NULL, on_event, ipc);
  bufferevent_enable(ipc->events, EV_READ | EV_WRITE);
  *out = ipc;
  return 0;
}

int pn_ipc_send(pn_ipc *ipc, const json_t *message) {
  if (ipc->closed)
    return PN_ECLOSED;
  pn_buf frame;
  pn_buf_init(&frame, PN_IPC_FRAME_MAX + 4);
  int rc = pn_ipc_encode(message, &frame);
  if (rc == 0)
    rc = pn_ipc_send_frames(ipc, &frame);
  pn_buf_free(&frame);
  return rc;
}

int pn_ipc_send_frames(pn_ipc *ipc, const pn_buf *frames) {
  if (ipc->closed)
    return PN_ECLOSED;
  /* When nothing is queued, write now: the frame is on the socket when this returns
   * (a cancel frame must be there before the SIGUSR1 that follows it), and the worker
   * sees it a loop turn sooner. What the socket does not take is queued. */
  size_t written = 0;
  if (evbuffer_get_length(bufferevent_get_output(ipc->events)) == 0) {
    ssize_t put = send(bufferevent_getfd(ipc->events), frames->data, frames->length, MSG_NOSIGNAL);
    if (put > 0)
      written = (size_t)put;
  }
  if (written < frames->length &&
      bufferevent_write(ipc->events, frames->data + written, frames->length - written) < 0)
    return PN_EIO;
  return 0;
}

void pn_ipc_close(pn_ipc *ipc) {
  if (!ipc)
    return;
  bufferevent_free(ipc->events);
  pn_free(ipc);
}
