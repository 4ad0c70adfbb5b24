/* Outbound network for a sandbox (`pinion hub --instance-network on`, the default):
 * slirp4netns attached to the sandbox's own network namespace, so that a model can
 * download what it needs while the host's loopback stays out of its reach
 * (`--disable-host-loopback`: 10.0.2.2, slirp's name for the host, refuses everything).
 * slirp4netns runs as the hub's user on the host's side and makes the model's
 * connections there; it is sandboxed itself (`--enable-sandbox --enable-seccomp`).
 * Because those connections start on the host, the sandbox's own routes refuse the host's
 * other addresses and 169.254.0.0/16 (director/sandbox_routes.h): slirp4netns's child process
 * has them added (by a process that joins the sandbox's namespaces) before it execs
 * slirp4netns.
 *
 * The order: bubblewrap creates the namespaces, writes its sandbox's pid to
 * PN_SANDBOX_INFO_FD and goes on to mount the sandbox and exec `pinion serve`, which
 * waits on PN_SANDBOX_BLOCK_FD (--x-wait-fd) before it runs anything of the model's; the
 * hub reads the pid (on the loop), waits until bubblewrap has set up the sandbox's
 * loopback (one change to a namespace at a time), then adds the routes and runs
 * slirp4netns on that namespace,
 * and once slirp4netns says the interface is up (its --ready-fd) writes to the block pipe: the model's Python starts with its network
 * already there, while bubblewrap's mounts and the server's own start overlapped
 * slirp4netns's. slirp4netns ends when the hub closes its
 * --exit-fd (the instance is freed) or dies (PR_SET_PDEATHSIG). See docs/security.md. */
#ifndef PN_DIRECTOR_SANDBOX_NETWORK_H
#define PN_DIRECTOR_SANDBOX_NETWORK_H

#include <event2/event.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pn_sandbox_network pn_sandbox_network;

typedef struct pn_sandbox_network_callbacks {
  /* The sandbox's interface is up and its command was let go. */
  void (*on_ready)(void *arg);
  /* It never will be; `error` (borrowed) says why. */
  void (*on_failed)(const char *error, void *arg);
} pn_sandbox_network_callbacks;

/* Before the sandbox's fork: the two pipes bubblewrap gets (see
 * pn_sandbox_network_child). `slirp4netns` is the program (a path), `log_fd` where its
 * complaints go (duplicated). *network is freed with pn_sandbox_network_free. */
int pn_sandbox_network_new(const char *slirp4netns, int log_fd, pn_sandbox_network **network);

/* In the sandbox's child between fork and exec (async-signal-safe): puts the pipes'
 * ends at PN_SANDBOX_INFO_FD and PN_SANDBOX_BLOCK_FD, open across exec. The caller then
 * closes every fd above PN_SANDBOX_BLOCK_FD. */
void pn_sandbox_network_child(const pn_sandbox_network *network);

/* In the hub after the fork: closes the child's ends and waits (on `base`) for the
 * sandbox's pid, then runs slirp4netns; one callback follows, unless freed first or
 * unless the sandbox ended before its network was up (bubblewrap failed: its exit, which
 * the caller watches, says why). The process must ignore SIGPIPE (the hub does). */
int pn_sandbox_network_start(pn_sandbox_network *network, struct event_base *base,
                             const pn_sandbox_network_callbacks *callbacks, void *arg);

/* Reaps slirp4netns if it exited (for a SIGCHLD). */
void pn_sandbox_network_reap(pn_sandbox_network *network);

/* Stops slirp4netns (closes its exit fd, then SIGKILL), reaps it and frees. */
void pn_sandbox_network_free(pn_sandbox_network *network);

/* The sandbox's pid in bubblewrap's --info-fd JSON ({"child-pid": N, ...}) of `length`
 * bytes; 0 when there is none. */
pid_t pn_sandbox_network_child_pid(const char *json, size_t length);

#endif
