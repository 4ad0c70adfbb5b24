/* slirp4netns for a sandbox's network namespace. See sandbox_network.h.
 *
 * Every pipe end is moved to a descriptor of 10 or more when it is made, so that the
 * child's dup2 onto 3, 4 and 5 never lands on an end it still has to move. */
#include "director/sandbox_network.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "director/sandbox.h"
#include "director/sandbox_routes.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define INFO_MAX 1024
#define FIRST_FREE_FD 10
/* How often, and how many times at most, the hub looks whether bubblewrap has set up the
 * sandbox's loopback before it goes on anyway (0.5 ms, 2 s). */
#define LOOPBACK_POLL_US 500
#define LOOPBACK_POLLS 4000

enum { READ_END, WRITE_END };

struct pn_sandbox_network {
  char *slirp4netns;
  int log_fd;
  int info[2];  /* bubblewrap writes the sandbox's pid */
  int block[2]; /* the hub writes once the network is up */
  int ready_fd; /* slirp4netns's --ready-fd, our end */
  int exit_fd;  /* slirp4netns's --exit-fd, our end: closing it ends slirp4netns */
  pid_t slirp_pid;
  uint64_t pid_known_ns; /* when bubblewrap said its pid: the steps' times are logged */
  char error[512]; /* on_failed's text when it is made up here */
  char info_text[INFO_MAX];
  size_t info_length;
  struct event *info_event;
  struct event *loopback_event; /* waits for bubblewrap's loopback */
  struct event *ready_event;
  pid_t sandbox_pid;
  int loopback_polls;
  pn_sandbox_network_callbacks callbacks;
  void *arg;
  int reported;
};

static void close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* A close-on-exec pipe whose ends are at FIRST_FREE_FD or above. */
static int high_pipe(int ends[2]) {
  int made[2];
  ends[0] = ends[1] = -1;
  if (pipe2(made, O_CLOEXEC) < 0)
    return PN_EIO;
  for (int i = 0; i < 2; i++) {
    ends[i] = fcntl(made[i], F_DUPFD_CLOEXEC, FIRST_FREE_FD);
    close(made[i]);
  }
  if (ends[0] < 0 || ends[1] < 0) {
    close_fd(&ends[0]);
    close_fd(&ends[1]);
    return PN_EIO;
  }
  return 0;
}

int pn_sandbox_network_new(const char *slirp4netns, int log_fd, pn_sandbox_network **out) {
  *out = NULL;
  pn_sandbox_network *network = pn_calloc(1, sizeof *network);
  if (!network)
    return PN_ENOMEM;
  network->info[0] = network->info[1] = network->block[0] = network->block[1] = -1;
  network->ready_fd = network->exit_fd = network->log_fd = -1;
  network->slirp4netns = pn_strdup(slirp4netns);
  network->log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, FIRST_FREE_FD);
  int rc = network->slirp4netns ? 0 : PN_ENOMEM;
  if (rc == 0 && network->log_fd < 0)
    rc = PN_EIO;
  if (rc == 0)
    rc = high_pipe(network->info);
  if (rc == 0)
    rc = high_pipe(network->block);
  if (rc < 0) {
    pn_sandbox_network_free(network);
    return rc;
  }
  *out = network;
  return 0;
}

void pn_sandbox_network_child(const pn_sandbox_network *network) {
  dup2(network->info[WRITE_END], PN_SANDBOX_INFO_FD);
  dup2(network->block[READ_END], PN_SANDBOX_BLOCK_FD);
}

/* Settles the network: `error` NULL: ready; SANDBOX_ENDED: no callback, the sandbox's own
 * exit (which the instance sees) says why; else on_failed. */
static const char SANDBOX_ENDED[] = "";

static void report(pn_sandbox_network *network, const char *error) {
  if (network->reported)
    return;
  network->reported = 1;
  if (network->info_event)
    event_del(network->info_event);
  if (network->loopback_event)
    event_del(network->loopback_event);
  if (network->ready_event)
    event_del(network->ready_event);
  if (error == SANDBOX_ENDED)
    return;
  if (error)
    network->callbacks.on_failed(error, network->arg);
  else
    network->callbacks.on_ready(network->arg);
}

pid_t pn_sandbox_network_child_pid(const char *json, size_t length) {
  json_t *info = json_loadb(json, length, JSON_DISABLE_EOF_CHECK, NULL);
  json_t *pid = json_object_get(info, "child-pid");
  json_int_t value = json_is_integer(pid) ? json_integer_value(pid) : 0;
  json_decref(info);
  return value > 1 && value < 1 << 30 ? (pid_t)value : 0;
}

/* The network namespace of `pid` and the user namespace that owns it, as descriptors at
 * FIRST_FREE_FD or above. Not the user namespace of `pid` itself: bubblewrap, asked for a
 * uid other than root's inside, moves the sandbox into a second user namespace nested in
 * the first, whose capabilities do not reach the network namespace (slirp4netns given
 * /proc/PID/ns/user fails with "setns(CLONE_NEWNET): Operation not permitted" whenever
 * it looks after that move). */
static int open_namespaces(pid_t pid, int *netns_fd, int *userns_fd) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
  int net = open(path, O_RDONLY | O_CLOEXEC);
  if (net < 0 && (errno == ENOENT || errno == ESRCH)) {
    *netns_fd = *userns_fd = -1;
    return PN_ENOENT; /* the sandbox is gone already */
  }
  int owner = net >= 0 ? ioctl(net, NS_GET_USERNS) : -1;
  *netns_fd = net >= 0 ? fcntl(net, F_DUPFD_CLOEXEC, FIRST_FREE_FD) : -1;
  *userns_fd = owner >= 0 ? fcntl(owner, F_DUPFD_CLOEXEC, FIRST_FREE_FD) : -1;
  if (net >= 0)
    close(net);
  if (owner >= 0)
    close(owner);
  if (*netns_fd >= 0 && *userns_fd >= 0)
    return 0;
  close_fd(netns_fd);
  close_fd(userns_fd);
  return PN_EIO;
}

/* What slirp4netns's child tells the hub on the ready pipe, instead of slirp4netns's
 * "1", when the routes could not be added: GUARD_FAILED, then the errno. */
#define GUARD_FAILED 'R'

typedef struct guard_call {
  const pn_sandbox_routes *routes;
  int userns_fd, netns_fd;
  int rc;
  const char *step;
} guard_call;

/* The routes' process: it shares slirp4netns's child's memory (CLONE_VM | CLONE_VFORK),
 * so its answer is in `call` when that child goes on. Not instrumented by ASan: it runs
 * on a stack ASan does not know, where its _exit made ASan warn (a report in a
 * sanitized hub's test run). */
__attribute__((no_sanitize_address)) static int install_routes(void *arg) {
  guard_call *call = arg;
  call->rc = pn_sandbox_routes_install(call->routes, call->userns_fd, call->netns_fd,
                                       &call->step);
  _exit(0);
}

/* Runs slirp4netns on the namespaces (borrowed descriptors); its ready and exit pipes
 * stay with us. Its child first adds `routes` in the sandbox's network namespace
 * (director/sandbox_routes.h), from a process of its own that joins the namespaces (slirp4netns
 * itself must stay in the host's); only then does it exec slirp4netns, so the two never
 * change the namespace at once, and the hub forks once. */
static int spawn_slirp(pn_sandbox_network *network, const pn_sandbox_routes *routes,
                       int netns_fd, int userns_fd) {
  int ready[2], exit_pipe[2];
  if (high_pipe(ready) < 0 || high_pipe(exit_pipe) < 0) {
    close_fd(&ready[0]);
    close_fd(&ready[1]);
    return PN_EIO;
  }
  /* 10.0.2.100/24 in the sandbox, the host as 10.0.2.2 (refusing everything), DNS at
   * 10.0.2.3 (forwarded to the host's resolvers). */
  char *const argv[] = {network->slirp4netns,
                        "--configure",
                        "--mtu=65520",
                        "--disable-host-loopback",
                        "--enable-sandbox",
                        "--enable-seccomp",
                        "--ready-fd=3",
                        "--exit-fd=4",
                        "--netns-type=path",
                        "--userns-path=/proc/self/fd/6",
                        "/proc/self/fd/5",
                        "tap0",
                        NULL};
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t child = null_fd < 0 ? -1 : fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(1);
    setpgid(0, 0);
    dup2(null_fd, 0);
    dup2(null_fd, 1); /* it says "sent tapfd=..." there */
    dup2(network->log_fd, 2);
    dup2(ready[WRITE_END], 3);
    dup2(exit_pipe[READ_END], 4);
    dup2(netns_fd, 5);
    dup2(userns_fd, 6);
    syscall(SYS_close_range, 7u, ~0u, 0u);
    static char stack[64 * 1024] __attribute__((aligned(16)));
    guard_call call = {routes, 6, 5, -EIO, "clone"};
    pid_t guard = (pid_t)clone(install_routes, stack + sizeof stack,
                               CLONE_VM | CLONE_VFORK | SIGCHLD, &call);
    if (guard > 0)
      while (waitpid(guard, NULL, 0) < 0 && errno == EINTR) {
      }
    if (guard < 0 || call.rc < 0) {
      int failure = guard < 0 ? errno : -call.rc;
      static const char prefix[] = "pinion hub: could not refuse the host's addresses in "
                                   "the sandbox's network: ";
      ssize_t ignored = write(2, prefix, sizeof prefix - 1);
      ignored = write(2, call.step, strlen(call.step));
      ignored = write(2, " failed\n", 8);
      unsigned char answer[2] = {GUARD_FAILED, (unsigned char)(failure > 0 && failure < 256
                                                                   ? failure : EIO)};
      ignored = write(3, answer, sizeof answer);
      (void)ignored;
      _exit(1);
    }
    static char *const no_environment[] = {NULL};
    execve(argv[0], argv, no_environment);
    static const char failed[] = "pinion hub: could not run slirp4netns\n";
    ssize_t ignored = write(2, failed, sizeof failed - 1);
    (void)ignored;
    _exit(127);
  }
  if (null_fd >= 0)
    close(null_fd);
  close(ready[WRITE_END]);
  close(exit_pipe[READ_END]);
  if (child < 0) {
    close(ready[READ_END]);
    close(exit_pipe[WRITE_END]);
    return PN_ECHILD;
  }
  network->slirp_pid = child;
  network->ready_fd = ready[READ_END];
  network->exit_fd = exit_pipe[WRITE_END];
  return 0;
}

/* Once the routes are in and slirp4netns is up, the model server may start the model
 * (pinion serve --x-wait-fd reads the block pipe). */
static void release(pn_sandbox_network *network) {
  ssize_t wrote = write(network->block[WRITE_END], "1", 1);
  int write_error = wrote == 1 ? 0 : errno;
  close_fd(&network->block[WRITE_END]);
  if (wrote == 1)
    report(network, NULL);
  else if (write_error == EPIPE) /* the sandbox ended first (a bind's missing source...) */
    report(network, SANDBOX_ENDED);
  else
    report(network, "could not let the sandbox go on once its network was up");
}

static void on_slirp_ready(evutil_socket_t fd, short what, void *arg) {
  pn_sandbox_network *network = arg;
  unsigned char answer[2] = {0, 0};
  ssize_t got = read(fd, answer, sizeof answer);
  if (got < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  event_del(network->ready_event);
  if (got >= 1 && answer[0] == GUARD_FAILED) {
    snprintf(network->error, sizeof network->error,
             "could not refuse the host's own addresses and 169.254.0.0/16 in the sandbox's "
             "network (%s), so the model would reach them; the instance's log says which "
             "step failed; run models without network (--instance-network off) if it cannot "
             "work here",
             got == 2 ? strerror(answer[1]) : "no reason given");
    report(network, network->error);
    return;
  }
  if (got < 1) {
    report(network, "slirp4netns (the sandbox's network) ended before the network was up; "
                    "run models without network (--instance-network off) if it cannot work "
                    "here");
    return;
  }
  pn_debug("hub: a sandbox's routes are in and slirp4netns is up %.1f ms after bubblewrap's "
           "pid",
           (double)(pn_clock_monotonic_ns() - network->pid_known_ns) / 1e6);
  release(network);
}

static void on_loopback(evutil_socket_t fd, short what, void *arg);

static void on_info(evutil_socket_t fd, short what, void *arg) {
  pn_sandbox_network *network = arg;
  ssize_t got = read(fd, network->info_text + network->info_length,
                     sizeof network->info_text - 1 - network->info_length);
  if (got < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (got > 0)
    network->info_length += (size_t)got;
  network->info_text[network->info_length] = '\0';
  int ended = got <= 0 || network->info_length == sizeof network->info_text - 1;
  if (!ended && !strchr(network->info_text, '}'))
    return; /* more to come */
  event_del(network->info_event);
  pid_t pid = pn_sandbox_network_child_pid(network->info_text, network->info_length);
  if (!pid && network->info_length == 0) {
    report(network, SANDBOX_ENDED); /* bubblewrap ended before it made its sandbox */
    return;
  }
  if (!pid) {
    report(network, "bubblewrap did not say which process its sandbox is (--info-fd); the "
                    "instance's log may say why");
    return;
  }
  close_fd(&network->info[READ_END]);
  network->pid_known_ns = pn_clock_monotonic_ns();
  network->sandbox_pid = pid;
  network->loopback_event = evtimer_new(event_get_base(network->info_event), on_loopback, network);
  if (!network->loopback_event) {
    report(network, "out of memory");
    return;
  }
  on_loopback(-1, EV_TIMEOUT, network);
}

/* Whether the sandbox's loopback is configured and up: its 127.0.0.1 is in the local
 * routes of the namespace's FIB. -1 when the sandbox is gone. */
static int loopback_ready(pid_t pid) {
  char path[64], text[4096];
  snprintf(path, sizeof path, "/proc/%d/net/fib_trie", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t got = read(fd, text, sizeof text - 1);
  close(fd);
  if (got < 0)
    return -1;
  text[got] = '\0';
  return strstr(text, "127.0.0.1") != NULL;
}

/* bubblewrap says which process its sandbox is before that process sets up the
 * namespace's loopback (address, then up), and another set-up of the same namespace
 * racing with it (slirp4netns's, the routes') made bubblewrap fail ("loopback: Failed
 * RTM_NEWADDR") in about 3 starts of 100 here. So the routes go in, and slirp4netns
 * starts, once the loopback is up, which takes well under a millisecond. */
static void on_loopback(evutil_socket_t fd, short what, void *arg) {
  pn_sandbox_network *network = arg;
  int ready = loopback_ready(network->sandbox_pid);
  if (ready == 0 && ++network->loopback_polls < LOOPBACK_POLLS) {
    struct timeval again = {0, LOOPBACK_POLL_US};
    evtimer_add(network->loopback_event, &again);
    return;
  }
  if (ready < 0) {
    report(network, SANDBOX_ENDED);
    return;
  }
  pid_t pid = network->sandbox_pid;
  /* The host's addresses as they are now: collected here, in the hub, because the
   * routes' process may only make system calls (the hub may have threads). */
  pn_sandbox_routes routes;
  if (pn_sandbox_routes_collect(&routes) == PN_EIO) {
    report(network, "could not list the host's addresses (getifaddrs), which the sandbox's "
                    "network must refuse");
    return;
  }
  int netns_fd, userns_fd;
  int rc = open_namespaces(pid, &netns_fd, &userns_fd);
  if (rc == PN_ENOENT) { /* bubblewrap failed after it made the sandbox */
    report(network, SANDBOX_ENDED);
    return;
  }
  if (rc == 0) {
    rc = spawn_slirp(network, &routes, netns_fd, userns_fd);
    close(netns_fd);
    close(userns_fd);
  }
  if (rc < 0) {
    report(network, "could not start slirp4netns for the sandbox's network");
    return;
  }
  network->ready_event = event_new(event_get_base(network->loopback_event), network->ready_fd,
                                   EV_READ | EV_PERSIST, on_slirp_ready, network);
  if (!network->ready_event || event_add(network->ready_event, NULL) < 0)
    report(network, "out of memory");
}

int pn_sandbox_network_start(pn_sandbox_network *network, struct event_base *base,
                             const pn_sandbox_network_callbacks *callbacks, void *arg) {
  network->callbacks = *callbacks;
  network->arg = arg;
  close_fd(&network->info[WRITE_END]);
  close_fd(&network->block[READ_END]);
  network->info_event =
      event_new(base, network->info[READ_END], EV_READ | EV_PERSIST, on_info, network);
  if (!network->info_event || event_add(network->info_event, NULL) < 0)
    return PN_ENOMEM;
  return 0;
}

void pn_sandbox_network_reap(pn_sandbox_network *network) {
  if (network && network->slirp_pid > 0 && waitpid(network->slirp_pid, NULL, WNOHANG) > 0)
    network->slirp_pid = 0;
}

void pn_sandbox_network_free(pn_sandbox_network *network) {
  if (!network)
    return;
  if (network->info_event)
    event_free(network->info_event);
  if (network->loopback_event)
    event_free(network->loopback_event);
  if (network->ready_event)
    event_free(network->ready_event);
  close_fd(&network->exit_fd);
  if (network->slirp_pid > 0) {
    kill(network->slirp_pid, SIGKILL);
    waitpid(network->slirp_pid, NULL, 0);
  }
  close_fd(&network->ready_fd);
  for (int i = 0; i < 2; i++) {
    close_fd(&network->info[i]);
    close_fd(&network->block[i]);
  }
  close_fd(&network->log_fd);
  pn_free(network->slirp4netns);
  pn_free(network);
}
