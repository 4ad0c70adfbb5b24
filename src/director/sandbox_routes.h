/* The destinations a sandbox with network is refused (director/sandbox_network.h): the host's
 * own IPv4 addresses, the link-local block 169.254.0.0/16 (the cloud's metadata
 * address) and the hub's container networks. slirp4netns makes a sandbox's connections from the host, so without this a
 * model would reach every service listening on an address of the host that is not
 * loopback (the hub's public listener on 0.0.0.0, the container engine's bridge, ...) and
 * the metadata service; slirp4netns cannot filter by destination itself.
 *
 * The refusal lives in the sandbox's own network namespace: a "prohibit" route for each
 * destination, so connect() fails at once with EACCES and no packet reaches slirp4netns.
 * The model cannot remove them: it has no capability over that namespace (bubblewrap
 * drops them all and moves the model into a nested user namespace). The sandbox needs
 * none of these addresses: it reaches the hub over a unix socket. See docs/security.md. */
#ifndef PN_DIRECTOR_SANDBOX_ROUTES_H
#define PN_DIRECTOR_SANDBOX_ROUTES_H

#include <stddef.h>
#include <stdint.h>

/* Addresses beyond this many are not refused: collect says so. */
#define PN_SANDBOX_ROUTES_MAX 64

typedef struct pn_sandbox_route {
  uint32_t address; /* IPv4, network byte order */
  uint8_t prefix;   /* 32 for one address */
} pn_sandbox_route;

typedef struct pn_sandbox_routes {
  pn_sandbox_route entries[PN_SANDBOX_ROUTES_MAX];
  size_t count;
} pn_sandbox_routes;

/* 169.254.0.0/16, the hub's container networks (director/networks.h: image versions'
 * Cog servers) and every IPv4 address of the host's interfaces outside 127.0.0.0/8
 * (the sandbox's 127/8 is its own), as the host has them now (getifaddrs): an address
 * the host gains later is not refused to sandboxes that are already running. PN_EIO when
 * the host's addresses cannot be listed, PN_ETOOBIG when there are more than fit (the
 * first ones are kept). */
int pn_sandbox_routes_collect(pn_sandbox_routes *routes);

/* Joins the user namespace `userns_fd` and then the network namespace `netns_fd` it
 * owns, and adds a prohibit route for each of `routes` there (after bubblewrap has set
 * up the loopback: the caller waits for that). For a child between fork
 * and _exit: it changes the calling process's namespaces and uses only system calls.
 * 0, or a negative errno (which step failed is in *step: "setns(user)", "setns(net)",
 * "netlink"). */
int pn_sandbox_routes_install(const pn_sandbox_routes *routes, int userns_fd, int netns_fd,
                              const char **step);

#endif
