/* The container engine's own network, as the hub needs it for image versions: the
 * containers run on the engine's default bridge (never the host's network), publish
 * their port on the host's loopback, and reach the hub through the bridge's gateway
 * address, the host's side of the bridge. See docs/security.md. */
#ifndef PN_IMAGE_NETWORK_H
#define PN_IMAGE_NETWORK_H

#include "image/engine.h"

/* The network `--network=bridge` puts a container on, as each engine names it. */
#define PN_IMAGE_BRIDGE "bridge"

/* The IPv4 address of the engine's default bridge on the host (podman's network
 * "podman", 10.88.0.1 unless configured; docker's "bridge", 172.17.0.1), asked of the
 * engine (at most 10 s). Returns 0 with the address in *address (pn_malloc'd), or a
 * PN_E* code with *error (pn_malloc'd: what is wrong and how to fix it); the caller
 * frees either. Rootless podman is refused: its bridge lives in a namespace of its
 * own that the hub cannot listen in. */
int pn_image_bridge_gateway(const pn_image_engine *engine, char **address, char **error);

/* Networks of the hub's own, one per image version's instance at a time, so that one
 * model's container cannot reach another's (podman: `--opt isolate=true`, which
 * blocks traffic between networks that have it; docker isolates user-defined bridges
 * from each other by default). Slot N is the network "pinion-10-89-<192+N>" on
 * 10.89.<192+N>.0/24, its gateway (the host's side, where the hub listens for it)
 * 10.89.<192+N>.1. The networks stay after their instance (the next instance in that
 * slot uses them again): creating one takes the engine a moment. */
#define PN_IMAGE_NETWORK_SLOTS 64
/* Every slot's subnet together: 10.89.192.0/18 (folder versions' sandboxes refuse it). */
#define PN_IMAGE_NETWORKS_ADDRESS 0x0a59c000u /* host byte order */
#define PN_IMAGE_NETWORKS_PREFIX 18

typedef struct pn_image_network_slot {
  char name[48];
  char subnet[32];
  char gateway[32];
} pn_image_network_slot;

/* Slot `slot` (0 .. PN_IMAGE_NETWORK_SLOTS-1). */
void pn_image_network_slot_get(int slot, pn_image_network_slot *out);

/* Creates the network `name` on `subnet` with `gateway`, isolated from the engine's
 * other isolated networks, unless it exists. 0, or a PN_E* code with *error
 * (pn_malloc'd) quoting the engine. */
int pn_image_network_ensure(const pn_image_engine *engine, const char *name, const char *subnet,
                            const char *gateway, char **error);

#endif
