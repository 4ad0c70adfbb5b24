/* The internal listener's socket on the container engine's bridge. See bridge.h.
 *
 * The socket is bound with IP_FREEBIND: engines create the bridge's interface (and so
 * its gateway address) only with their first container, which may come after the hub
 * starts. It listens on the internal listener's own port, so the URL containers get is
 * known before the probe answers, and input file URLs made meanwhile stay right. When
 * the internal listener is bound to every address already (--internal-listen
 * 0.0.0.0:PORT), it covers the gateway, and no second socket is made. */
#include "hub/bridge.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "hub/hub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_ANSWER_MAX 4096

struct pn_hub_bridge {
  pn_hub *hub;
  int port;     /* the internal listener's */
  int covered;  /* the internal listener listens on every address */
  pid_t probe_pid;
  int probe_fd;
  struct event *probe;
  pn_buf answer;
  int pending;
  char *error; /* why image versions cannot run, or NULL */
};

/* Listens on `address`:port for the internal routes (quietly: no log line); 0, or -1
 * with bridge->error. */
static int listen_quietly_on(struct pn_hub_bridge *bridge, const char *address) {
  if (bridge->covered)
    return 0;
  struct sockaddr_in socket_address = {.sin_family = AF_INET,
                                       .sin_port = htons((uint16_t)bridge->port)};
  if (inet_pton(AF_INET, address, &socket_address.sin_addr) != 1) {
    bridge->error = pn_strfmt("the container engine's bridge gateway \"%s\" is not an IPv4 "
                              "address; give it with --container-gateway",
                              address);
    return -1;
  }
  int on = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
      setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on, sizeof on) < 0 ||
      bind(fd, (struct sockaddr *)&socket_address, sizeof socket_address) < 0 ||
      listen(fd, 128) < 0 || !evhttp_accept_socket_with_handle(bridge->hub->internal_http, fd)) {
    bridge->error = pn_strfmt("the hub cannot listen on the container engine's bridge gateway "
                              "%s:%d: %s; choose the internal listener's port with "
                              "--internal-listen, or the gateway with --container-gateway",
                              address, bridge->port, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return 0;
}

static int listen_on(struct pn_hub_bridge *bridge, const char *address) {
  if (bridge->covered || listen_quietly_on(bridge, address) < 0)
    return bridge->covered ? 0 : -1;
  pn_info("pinion hub: internal routes for containers on %s:%d", address, bridge->port);
  return 0;
}

/* The gateways of the instances' own networks (the CLI lists them: director/networks.h),
 * bound at once: with IP_FREEBIND the address need not exist yet (the engine makes a
 * network's interface with its first container), so the hub never waits on the engine
 * for them. */
static int listen_on_instance_networks(struct pn_hub_bridge *bridge) {
  if (bridge->covered)
    return 0;
  const pn_hub_bridge_options *given = &bridge->hub->options->bridge;
  int count = given->network_gateway_count;
  if (count <= 0)
    return 0;
  for (int slot = 0; slot < count; slot++)
    if (listen_quietly_on(bridge, given->network_gateways[slot]) < 0)
      return -1;
  pn_info("pinion hub: internal routes for containers on their own networks' gateways, %s to "
          "%s, port %d",
          given->network_gateways[0], given->network_gateways[count - 1], bridge->port);
  return 0;
}

static void end_probe(struct pn_hub_bridge *bridge) {
  if (bridge->probe) {
    event_free(bridge->probe);
    bridge->probe = NULL;
  }
  if (bridge->probe_fd >= 0) {
    close(bridge->probe_fd);
    bridge->probe_fd = -1;
  }
  if (bridge->probe_pid > 0) {
    int status;
    if (waitpid(bridge->probe_pid, &status, WNOHANG) == 0) {
      kill(bridge->probe_pid, SIGKILL);
      while (waitpid(bridge->probe_pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    bridge->probe_pid = 0;
  }
  bridge->pending = 0;
}

/* The probe's answer, once it closed its end: an address to listen on, or "!" and the
 * reason there is none. */
static void take_answer(struct pn_hub_bridge *bridge) {
  char *answer = pn_buf_error(&bridge->answer) ? NULL : pn_buf_take(&bridge->answer);
  size_t length = answer ? strlen(answer) : 0;
  while (length && strchr(" \t\r\n", answer[length - 1]))
    answer[--length] = '\0';
  if (!answer || !length)
    bridge->error = pn_strdup("the probe of the container engine's network ended without an "
                              "answer; see the hub's log, or give the bridge's gateway with "
                              "--container-gateway");
  else if (answer[0] == '!')
    bridge->error = pn_strdup(answer + 1);
  else
    listen_on(bridge, answer);
  pn_free(answer);
  if (bridge->error)
    pn_warn("hub: image versions cannot run here: %s", bridge->error);
}

static void on_probe(evutil_socket_t fd, short what, void *arg) {
  struct pn_hub_bridge *bridge = arg;
  char chunk[512];
  ssize_t got = read(fd, chunk, sizeof chunk);
  if (got < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (got > 0) {
    pn_buf_append(&bridge->answer, chunk, (size_t)got);
    return;
  }
  end_probe(bridge);
  take_answer(bridge);
  pn_hub_scheduler_container_network(bridge->hub->scheduler, bridge->error);
}

int pn_hub_bridge_open(pn_hub *hub, const char *internal_host, int internal_port) {
  const pn_hub_bridge_options *given = &hub->options->bridge;
  if (!given->on)
    return 0;
  struct pn_hub_bridge *bridge = pn_calloc(1, sizeof *bridge);
  hub->container_internal_url = pn_strfmt("http://%s:%d", given->host, internal_port);
  if (!bridge || !hub->container_internal_url) {
    pn_free(bridge);
    return -1;
  }
  hub->bridge = bridge;
  bridge->hub = hub;
  bridge->port = internal_port;
  bridge->covered = strcmp(internal_host, "0.0.0.0") == 0;
  bridge->probe_pid = given->probe_pid;
  bridge->probe_fd = given->probe_pid > 0 ? given->probe_fd : -1;
  pn_buf_init(&bridge->answer, PROBE_ANSWER_MAX);
  if (listen_on_instance_networks(bridge) < 0) {
    /* Folder versions do not need them: the hub serves, image versions fail saying why. */
    pn_warn("hub: image versions cannot run here: %s",
            bridge->error ? bridge->error : "out of memory");
    end_probe(bridge);
    return 0;
  }
  if (given->gateway) {
    end_probe(bridge);
    if (listen_on(bridge, given->gateway) < 0) {
      fprintf(stderr, "error: %s\n", bridge->error ? bridge->error : "out of memory");
      return -1;
    }
  } else if (bridge->probe_fd >= 0) {
    bridge->probe = event_new(hub->base, bridge->probe_fd, EV_READ | EV_PERSIST, on_probe, bridge);
    if (!bridge->probe || event_add(bridge->probe, NULL) < 0)
      return -1;
    bridge->pending = 1;
  } else {
    bridge->error = pn_strdup("the hub did not learn the container engine's bridge gateway; "
                              "give it with --container-gateway");
  }
  return 0;
}

int pn_hub_bridge_pending(const pn_hub *hub) { return hub->bridge && hub->bridge->pending; }

const char *pn_hub_bridge_error(const pn_hub *hub) {
  return hub->bridge ? hub->bridge->error : NULL;
}

void pn_hub_bridge_close(pn_hub *hub) {
  struct pn_hub_bridge *bridge = hub->bridge;
  if (!bridge)
    return;
  end_probe(bridge);
  pn_buf_free(&bridge->answer);
  pn_free(bridge->error);
  pn_free(bridge);
  hub->bridge = NULL;
}
