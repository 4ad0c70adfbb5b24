/* The container networks that image versions' instances run on, one instance at a time
 * each, so that one model's container cannot reach another's (podman: `--opt
 * isolate=true`, which blocks traffic between networks that have it; docker isolates
 * user-defined bridges from each other by default; image/network.c makes them). Slot N
 * is the network "pinion-10-89-<192+N>" on 10.89.<192+N>.0/24, its gateway (the host's
 * side, where the hub listens for it: hub/bridge.h) 10.89.<192+N>.1. The networks stay
 * after their instance (the next instance in that slot uses them again): creating one
 * takes the engine a moment. See docs/security.md. */
#ifndef PN_DIRECTOR_NETWORKS_H
#define PN_DIRECTOR_NETWORKS_H

/* The host name containers resolve to their network's gateway (podman adds it to every
 * container's /etc/hosts on a bridge; docker is asked to with --add-host). */
#define PN_CONTAINER_HOST "host.containers.internal"

#define PN_NETWORK_SLOTS 64
/* Every slot's subnet together: 10.89.192.0/18 (folder versions' sandboxes refuse it). */
#define PN_NETWORKS_ADDRESS 0x0a59c000u /* host byte order */
#define PN_NETWORKS_PREFIX 18

typedef struct pn_network_slot {
  char name[48];
  char subnet[32];
  char gateway[32];
} pn_network_slot;

/* Slot `slot` (0 .. PN_NETWORK_SLOTS-1). */
void pn_network_slot_get(int slot, pn_network_slot *out);

#endif
