/* Prohibit routes in a sandbox's network namespace. See sandbox_routes.h. */
#include "director/sandbox_routes.h"

#include "core/error.h"
#include "director/networks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int add(pn_sandbox_routes *routes, uint32_t address, uint8_t prefix) {
  for (size_t i = 0; i < routes->count; i++)
    if (routes->entries[i].address == address && routes->entries[i].prefix == prefix)
      return 0; /* one address on two interfaces */
  if (routes->count == PN_SANDBOX_ROUTES_MAX)
    return PN_ETOOBIG;
  routes->entries[routes->count++] = (pn_sandbox_route){address, prefix};
  return 0;
}

int pn_sandbox_routes_collect(pn_sandbox_routes *routes) {
  routes->count = 0;
  add(routes, htonl(0xa9fe0000u), 16); /* 169.254.0.0/16 */
  /* Image versions' containers, which the host routes to: another tenant's Cog server. */
  add(routes, htonl(PN_NETWORKS_ADDRESS), PN_NETWORKS_PREFIX);
  struct ifaddrs *list = NULL;
  if (getifaddrs(&list) < 0)
    return PN_EIO;
  int rc = 0;
  for (struct ifaddrs *item = list; item; item = item->ifa_next) {
    if (!item->ifa_addr || item->ifa_addr->sa_family != AF_INET)
      continue;
    uint32_t address = ((const struct sockaddr_in *)item->ifa_addr)->sin_addr.s_addr;
    if ((ntohl(address) >> 24) == 127)
      continue;
    if (add(routes, address, 32) < 0)
      rc = PN_ETOOBIG;
  }
  freeifaddrs(list);
  return rc;
}

/* Receives the answer to request `sequence` into `reply`; its length, or a negative errno
 * (an NLMSG_ERROR's own included: 0 there means the request was acknowledged). */
static ssize_t receive(int sock, uint32_t sequence, char *reply, size_t capacity) {
  for (int tries = 0; tries < 8; tries++) {
    ssize_t got = recv(sock, reply, capacity, 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < (ssize_t)sizeof(struct nlmsghdr))
      return got < 0 ? -errno : -EPROTO;
    const struct nlmsghdr *header = (const struct nlmsghdr *)reply;
    if (header->nlmsg_seq != sequence)
      continue;
    if (header->nlmsg_type != NLMSG_ERROR)
      return got;
    if ((size_t)got < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
      return -EPROTO;
    const struct nlmsgerr *answer = NLMSG_DATA(header);
    return answer->error;
  }
  return -EPROTO;
}

/* One RTM_NEWROUTE: `destination`/`prefix` is prohibited (connect() fails with EACCES). */
typedef struct route_request {
  struct nlmsghdr header;
  struct rtmsg route;
  struct rtattr destination_header;
  uint32_t destination;
} route_request;

static int add_route(int sock, const pn_sandbox_route *entry, uint32_t sequence) {
  route_request request;
  memset(&request, 0, sizeof request);
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_NEWROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  request.header.nlmsg_seq = sequence;
  request.route.rtm_family = AF_INET;
  request.route.rtm_dst_len = entry->prefix;
  request.route.rtm_table = RT_TABLE_MAIN;
  request.route.rtm_protocol = RTPROT_STATIC;
  request.route.rtm_scope = RT_SCOPE_UNIVERSE;
  request.route.rtm_type = RTN_PROHIBIT;
  request.destination_header.rta_type = RTA_DST;
  request.destination_header.rta_len = RTA_LENGTH(sizeof request.destination);
  request.destination = entry->address;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(sock, &request, sizeof request, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    return -errno;
  /* The acknowledgement: an NLMSG_ERROR whose error is 0, or the failure. */
  char reply[512];
  ssize_t answer = receive(sock, sequence, reply, sizeof reply);
  return answer > 0 ? -EPROTO : (int)answer;
}

int pn_sandbox_routes_install(const pn_sandbox_routes *routes, int userns_fd, int netns_fd,
                              const char **step) {
  *step = "setns(user)";
  /* The user namespace first: it owns the network namespace and gives us its
   * capabilities there (the hub may be an unprivileged user). */
  if (setns(userns_fd, CLONE_NEWUSER) < 0)
    return -errno;
  *step = "setns(net)";
  if (setns(netns_fd, CLONE_NEWNET) < 0)
    return -errno;
  *step = "netlink";
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0)
    return -errno;
  uint32_t sequence = 1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < routes->count; i++)
    rc = add_route(sock, &routes->entries[i], sequence++);
  close(sock);
  return rc;
}
