/* Where image versions' containers reach the hub. They run on the container engine's
 * bridge network, with a loopback of their own and no way to the host's; the hub
 * gives them the internal listener at http://host.containers.internal:PORT (the name
 * the engine maps to the bridge's gateway, the host's side of the bridge; PORT is the
 * internal listener's) and listens there with a second socket of that listener, bound
 * to the gateway's address. The address is the operator's (--container-gateway) or
 * the answer of a probe of the engine that the CLI runs in a child process while the
 * hub starts (asking the engine takes a second or so), so until it answers the
 * scheduler holds image versions' instances back. See docs/security.md. */
#ifndef PN_HUB_BRIDGE_H
#define PN_HUB_BRIDGE_H

#include <stdint.h>
#include <sys/types.h>

typedef struct pn_hub pn_hub;

/* The bridge as the CLI found it: the gateway's IPv4 address, or a probe to wait for. */
typedef struct pn_hub_bridge_options {
  /* 0 under --isolation none: image versions use the engine's default network and the
   * loopback internal URL, and the hub listens nowhere else. */
  int on;
  /* The name containers give the gateway (director/networks.h PN_CONTAINER_HOST): the
   * hub tells image versions' instances http://HOST:PORT. */
  const char *host;
  /* The gateways of the instances' own networks (director/networks.h), listened on at
   * once: with IP_FREEBIND an address need not exist yet. */
  const char *const *network_gateways;
  int network_gateway_count;
  const char *gateway; /* --container-gateway, or NULL */
  /* The probe: a child process that writes the gateway's address, or "!" and why there
   * is none, to probe_fd and exits. probe_pid 0: no probe. The hub owns both. */
  pid_t probe_pid;
  int probe_fd;
} pn_hub_bridge_options;

/* Prepares the containers' way in, once the internal listener is bound to
 * `internal_host`:`internal_port` and before the scheduler starts (nothing under
 * --isolation none, where image versions use the engine's default network and the
 * loopback internal URL; the CLI probes only for the other modes): sets
 * hub->container_internal_url, binds the gateway's socket when the address is known
 * already, and otherwise watches the probe (its answer goes to the scheduler,
 * pn_hub_scheduler_container_network). Returns -1 after printing why when the operator's
 * address cannot be listened on; 0 otherwise, also when image versions cannot run (the
 * scheduler then fails their predictions with the reason). */
int pn_hub_bridge_open(pn_hub *hub, const char *internal_host, int internal_port);

/* Whether the scheduler must wait for the probe before it starts an image version, and
 * the reason image versions cannot run (NULL when they can, or may), for the
 * scheduler's options. */
int pn_hub_bridge_pending(const pn_hub *hub);
const char *pn_hub_bridge_error(const pn_hub *hub);

/* Stops watching the probe (killing it if it still runs) and frees what open made. */
void pn_hub_bridge_close(pn_hub *hub);

#endif
