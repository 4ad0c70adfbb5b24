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

/* The networks of the hub's instances are described in director/networks.h. */
/* Creates the network `name` on `subnet` with `gateway`, isolated from the engine's
 * other isolated networks (podman: `--opt isolate=true`; docker isolates user-defined
 * bridges from each other by default), unless it exists. 0, or a PN_E* code with *error
 * (pn_malloc'd) quoting the engine. */
int pn_image_network_ensure(const pn_image_engine *engine, const char *name, const char *subnet,
                            const char *gateway, char **error);

#endif
