/* A driver for the scheduler's black-box tests (tests/integration/test_scheduler.py):
 * a scheduler on a loop, the hub's internal webhook route on 127.0.0.1 (evhttp, port 0),
 * commands read from stdin as JSON lines and every event printed to stdout as a JSON
 * line. It stands in for the hub so the scheduler can be tested with real `pinion serve`
 * instances before the hub exists.
 *
 *   scheduler_driver --pinion BIN --data DIR [--python P] [--idle-timeout S]
 *                    [--boot-timeout S] [--instance-network on|off]
 *
 * Commands: {"op":"submit","id","target":{...},"request":{...}}, {"op":"cancel","id"},
 * {"op":"configure","target":{...}}, {"op":"stats","key"}, {"op":"webhook","token","body"},
 * {"op":"quit"}. Target fields are pn_scheduler_target's names. Output: first
 * {"ready":true,"hub_url"}, then {"event":"booting|started|update|failed","id","kind",
 * "detail"} per event and {"reply":OP,...} per command. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/unix_socket.h"
#include "director/scheduler.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct driver {
  struct event_base *base;
  pn_http_client *client;
  pn_scheduler *scheduler;
  struct evhttp *http;
  struct event *stdin_event;
  pn_buf input;
} driver;

static void print_line(json_t *line) {
  char *text = pn_json_dump(line, PN_JSON_COMPACT);
  if (text)
    printf("%s\n", text);
  fflush(stdout);
  pn_free(text);
  json_decref(line);
}

static void on_event(void *arg, const char *id, enum pn_scheduler_event event, const char *kind,
                     const json_t *detail) {
  static const char *names[] = {"booting", "started", "update", "failed"};
  print_line(json_pack("{s:s, s:s, s:s?, s:O?}", "event", names[event], "id", id, "kind", kind,
                       "detail", detail));
}

static void on_request(struct evhttp_request *request, void *arg) {
  driver *self = arg;
  const char *uri = evhttp_request_get_uri(request);
  const char *prefix = "/internal/instances/";
  const char *suffix = "/webhook";
  size_t length = strlen(uri);
  if (strncmp(uri, prefix, strlen(prefix)) != 0 || length < strlen(prefix) + strlen(suffix) ||
      strcmp(uri + length - strlen(suffix), suffix) != 0) {
    evhttp_send_reply(request, 404, "Not Found", NULL);
    return;
  }
  char *token = pn_strndup(uri + strlen(prefix), length - strlen(prefix) - strlen(suffix));
  struct evbuffer *body = evhttp_request_get_input_buffer(request);
  size_t size = evbuffer_get_length(body);
  json_t *document = json_loadb((const char *)evbuffer_pullup(body, -1), size, 0, NULL);
  int rc = document && token ? pn_scheduler_webhook(self->scheduler, token, document) : PN_EINVAL;
  json_decref(document);
  pn_free(token);
  evhttp_send_reply(request, rc == 0 ? 200 : rc == PN_ENOENT ? 404 : 400, "", NULL);
}

static int read_target(const json_t *object, pn_scheduler_target *target) {
  memset(target, 0, sizeof *target);
  target->key = json_string_value(json_object_get(object, "key"));
  target->bundle_dir = json_string_value(json_object_get(object, "bundle_dir"));
  target->image = json_string_value(json_object_get(object, "image"));
  target->mode = json_string_value(json_object_get(object, "mode"));
  target->min_instances = (int)json_integer_value(json_object_get(object, "min_instances"));
  json_t *max = json_object_get(object, "max_instances");
  target->max_instances = max ? (int)json_integer_value(max) : 1;
  json_t *slots = json_object_get(object, "slots");
  target->slots = slots ? (int)json_integer_value(slots) : 1;
  return target->key ? 0 : PN_EINVAL;
}

static void finish(driver *self) {
  pn_scheduler_free(self->scheduler);
  self->scheduler = NULL;
  print_line(json_pack("{s:s}", "reply", "quit"));
  event_base_loopbreak(self->base);
}

static void run_command(driver *self, const char *line) {
  json_t *command = json_loads(line, 0, NULL);
  const char *op = json_string_value(json_object_get(command, "op"));
  const char *id = json_string_value(json_object_get(command, "id"));
  pn_scheduler_target target;
  int rc = PN_EINVAL;
  if (!op) {
    print_line(json_pack("{s:s, s:s}", "reply", "error", "line", line));
  } else if (strcmp(op, "submit") == 0) {
    if (read_target(json_object_get(command, "target"), &target) == 0)
      rc = pn_scheduler_submit(self->scheduler, &target, id, json_object_get(command, "request"));
    print_line(json_pack("{s:s, s:s?, s:s}", "reply", op, "id", id, "rc", pn_errname(rc)));
  } else if (strcmp(op, "cancel") == 0) {
    rc = pn_scheduler_cancel(self->scheduler, id);
    print_line(json_pack("{s:s, s:s?, s:s}", "reply", op, "id", id, "rc", pn_errname(rc)));
  } else if (strcmp(op, "configure") == 0) {
    if (read_target(json_object_get(command, "target"), &target) == 0)
      rc = pn_scheduler_configure(self->scheduler, &target);
    print_line(json_pack("{s:s, s:s}", "reply", op, "rc", pn_errname(rc)));
  } else if (strcmp(op, "stats") == 0) {
    const char *key = json_string_value(json_object_get(command, "key"));
    pn_scheduler_stats stats = pn_scheduler_target_stats(self->scheduler, key);
    print_line(json_pack("{s:s, s:s?, s:i, s:i, s:i, s:i}", "reply", op, "key", key, "instances",
                         stats.instances, "ready", stats.ready, "busy", stats.busy, "queued",
                         stats.queued));
  } else if (strcmp(op, "webhook") == 0) {
    const char *token = json_string_value(json_object_get(command, "token"));
    rc = pn_scheduler_webhook(self->scheduler, token, json_object_get(command, "body"));
    print_line(json_pack("{s:s, s:s}", "reply", op, "rc", pn_errname(rc)));
  } else if (strcmp(op, "quit") == 0) {
    json_decref(command);
    finish(self);
    return;
  } else {
    print_line(json_pack("{s:s, s:s}", "reply", "error", "line", line));
  }
  json_decref(command);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg) {
  driver *self = arg;
  char chunk[4096];
  ssize_t got = read(fd, chunk, sizeof chunk);
  if (got <= 0) {
    finish(self);
    return;
  }
  pn_buf_append(&self->input, chunk, (size_t)got);
  char *newline;
  while (self->scheduler && self->input.data &&
         (newline = memchr(self->input.data, '\n', self->input.length))) {
    *newline = '\0';
    size_t consumed = (size_t)(newline - self->input.data) + 1;
    char *line = pn_strdup(self->input.data);
    pn_buf_consume(&self->input, consumed);
    if (line && *line)
      run_command(self, line);
    pn_free(line);
  }
}

int main(int argc, char **argv) {
  pn_alloc_install_json();
  pn_log_init();
  const char *data_dir = NULL;
  pn_scheduler_options options = {.idle_timeout = 60, .boot_timeout = 60};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--pinion") == 0)
      options.pinion = argv[i + 1];
    else if (strcmp(argv[i], "--python") == 0)
      options.python = argv[i + 1];
    else if (strcmp(argv[i], "--data") == 0)
      data_dir = argv[i + 1];
    else if (strcmp(argv[i], "--idle-timeout") == 0)
      options.idle_timeout = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--boot-timeout") == 0)
      options.boot_timeout = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--instance-network") == 0)
      options.instance_network_off = strcmp(argv[i + 1], "off") == 0;
  }
  if (!options.pinion || !data_dir) {
    fprintf(stderr, "usage: scheduler_driver --pinion BIN --data DIR [--python P] "
                    "[--idle-timeout S] [--boot-timeout S] [--instance-network on|off]\n");
    return 2;
  }
  /* The scheduler's scratch folder: DIR/instances, as a hub's owner folder would be. */
  mkdir(data_dir, 0700);
  char *scratch_dir = pn_fs_join(data_dir, "instances");
  if (!scratch_dir)
    return 1;
  mkdir(scratch_dir, 0700);
  options.scratch_dir = scratch_dir;
  signal(SIGPIPE, SIG_IGN); /* as the hub: a pipe to a sandbox that ended is no reason to die */
  driver self = {0};
  pn_buf_init(&self.input, 1 << 20);
  self.base = event_base_new();
  if (!self.base || pn_http_client_new(self.base, &self.client) < 0)
    return 1;
  self.http = evhttp_new(self.base);
  struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(self.http, "127.0.0.1", 0);
  if (!bound)
    return 1;
  evhttp_set_gencb(self.http, on_request, &self);
  struct sockaddr_in address;
  socklen_t size = sizeof address;
  getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&address, &size);
  char hub_url[64];
  snprintf(hub_url, sizeof hub_url, "http://127.0.0.1:%d", ntohs(address.sin_port));
  options.hub_url = hub_url;
  /* Sandboxed instances reach the driver through a unix socket beside the data folder,
   * as they reach the hub's internal listener. */
  char *hub_socket = pn_strfmt("%s.sock", data_dir);
  int socket_fd = -1;
  if (!hub_socket || pn_unix_listen(hub_socket, &socket_fd) < 0 ||
      !evhttp_accept_socket_with_handle(self.http, socket_fd))
    return 1;
  options.hub_socket = hub_socket;
  int rc = pn_scheduler_new(self.base, self.client, &options, on_event, &self, &self.scheduler);
  if (rc < 0) {
    fprintf(stderr, "scheduler_driver: %s\n", pn_strerror(rc));
    return 1;
  }
  print_line(json_pack("{s:b, s:s}", "ready", 1, "hub_url", hub_url));
  self.stdin_event = event_new(self.base, 0, EV_READ | EV_PERSIST, on_stdin, &self);
  event_add(self.stdin_event, NULL);
  event_base_dispatch(self.base);
  event_free(self.stdin_event);
  evhttp_free(self.http);
  unlink(hub_socket);
  pn_free(hub_socket);
  pn_free(scratch_dir);
  pn_http_client_free(self.client);
  event_base_free(self.base);
  pn_buf_free(&self.input);
  return 0;
}
