/* An instance: one `pinion serve` child of the hub, inside a bubblewrap sandbox for a
 * folder version when the spec names one (director/sandbox.c builds that argv). It is
 * started with fork and exec rather than posix_spawn because the child must ask for
 * PR_SET_PDEATHSIG(SIGTERM) and set the sandbox's resource limits before it execs, so
 * that instances die with the hub; between fork and exec the child makes only
 * async-signal-safe calls on memory prepared before the fork. The child gets its own
 * process group (a session, for a sandbox) so that a stop reaches everything it
 * started, /dev/null for stdin and a log file in its scratch folder for stdout and
 * stderr. A sandboxed `pinion serve` has no network of the host's: it listens on a unix
 * socket in its scratch folder, which the hub connects to, and reaches the hub through
 * the hub's own socket bound into the sandbox; an instance outside a sandbox listens on
 * a port of 127.0.0.1 and writes it to a port file. Readiness is polled: the port file
 * first (when there is one), then GET /health-check, every 20 ms at first and backing
 * off to 200 ms; once it says READY, one GET /metrics (over the same socket or port)
 * reads how many predictions the instance takes at once (`pinion_slots`). The exit is
 * noticed through SIGCHLD (with a slow
 * poll as a safety net), reaped with wait4(WNOHANG) and reported from a fresh loop
 * iteration, the way runtime/worker.c does it. */
#include "director/instance.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/cog_client.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/unix_socket.h"
#include "director/sandbox.h"
#include "director/sandbox_network.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define FIRST_POLL_SECONDS 0.02
#define MAX_POLL_SECONDS 0.2
#define SAFETY_REAP_SECONDS 1.0
#define LOG_TAIL_DIAGNOSIS 2048
/* The most slots the hub believes an instance has (`pinion serve` allows a million). */
#define SLOTS_MAX 4096

enum instance_state { BOOTING, READY, BOOT_FAILED, EXITED };

struct pn_instance {
  struct event_base *base;
  pn_http_client *client;
  pn_instance_callbacks callbacks;
  void *arg;
  char *scratch_dir;
  char *port_path;
  char *log_path;
  pid_t pid;
  int sandboxed; /* the child is bubblewrap */
  int port;
  /* A sandboxed instance's socket, as the hub connects to it (a path too long for a
   * socket's address goes through socket_dir_fd, its folder), and the server. */
  char socket_address[PN_UNIX_PATH_MAX + 1];
  char *serve_socket; /* its path on the host */
  int socket_dir_fd;
  char base_url[40];
  pn_cog_server server; /* base_url, and socket_address for a sandbox */
  pn_sandbox_network *network; /* slirp4netns for a sandbox with the network on */
  int slots; /* what its GET /metrics said (pinion_slots) once READY; 1 when it said nothing */
  enum instance_state state;
  uint64_t started_ns;
  uint64_t ready_ns; /* the health check said READY (then GET /metrics tells its slots) */
  double poll_interval;
  double boot_timeout;
  pn_http_transfer *health;
  struct event *child_event; /* SIGCHLD */
  struct event *poll_timer;  /* port file and health checks while booting */
  struct event *boot_timer;
  struct event *kill_timer; /* SIGKILL after the stop's grace */
  struct event *reap_timer; /* a slow poll in case a SIGCHLD was missed */
  struct event *report_event;
  int stop_requested;
  int reaped;
  int group_killed; /* at the reap; the group's id may be reused afterwards */
  int status;       /* from wait4 */
  char *diagnosis;
};

static struct timeval seconds_to_timeval(double seconds) {
  struct timeval tv;
  tv.tv_sec = (time_t)seconds;
  tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
  return tv;
}

static void add_timer(struct event *timer, double seconds) {
  struct timeval tv = seconds_to_timeval(seconds);
  event_add(timer, &tv);
}

static int make_dirs(const char *path) {
  char *copy = pn_strdup(path);
  if (!copy)
    return PN_ENOMEM;
  for (char *slash = strchr(copy + 1, '/');; slash = strchr(slash + 1, '/')) {
    if (slash)
      *slash = '\0';
    if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
      pn_free(copy);
      return PN_EIO;
    }
    if (!slash)
      break;
    *slash = '/';
  }
  pn_free(copy);
  return 0;
}

/* --- the child ------------------------------------------------------------------------ */

/* Everything the child needs, built before fork so that the child allocates nothing. */
typedef struct launch {
  char **argv; /* bubblewrap's (options hidden in options_fd), or the command itself */
  const pn_sandbox *sandbox;
  const pn_sandbox_network *network; /* its pipes go to bubblewrap, or NULL */
  int options_fd;
  int null_fd;
  int log_fd;
  pid_t parent;
  char exec_failed[512];
  size_t exec_failed_length;
} launch;

#define COMMAND_MAX 24

static void free_launch(launch *plan) {
  pn_sandbox_argv_free(plan->argv);
  if (plan->options_fd >= 0)
    close(plan->options_fd);
  if (plan->null_fd >= 0)
    close(plan->null_fd);
  if (plan->log_fd >= 0)
    close(plan->log_fd);
}

/* The `pinion serve` command line, with the paths it sees: inside a sandbox the bundle
 * is at PN_SANDBOX_BUNDLE, the scratch folder (with serve's socket) at
 * PN_SANDBOX_SCRATCH and the hub's socket at PN_SANDBOX_HUB_SOCKET; outside, it listens
 * on a port and writes it to `port_file`. The strings are borrowed from `spec` and
 * `port_file`. */
static void serve_command(const pn_instance_spec *spec, const char *port_file,
                          const char *command[COMMAND_MAX]) {
  static char network_slot_text[16]; /* copied (copy_command) before the next call */
  snprintf(network_slot_text, sizeof network_slot_text, "%d", spec->network_slot);
  int sandboxed = spec->sandbox && spec->bundle_dir;
  size_t count = 0;
  command[count++] = sandboxed ? pn_sandbox_pinion(spec->sandbox) : spec->pinion;
  command[count++] = "serve";
  if (spec->bundle_dir)
    command[count++] = sandboxed ? PN_SANDBOX_BUNDLE : spec->bundle_dir;
  if (spec->image) {
    command[count++] = "--image";
    command[count++] = spec->image;
    if (spec->isolate_image)
      command[count++] = "--x-isolate";
    if (spec->isolate_image && spec->network_slot >= 0) {
      command[count++] = "--x-network-slot";
      command[count++] = network_slot_text;
    }
  }
  if (sandboxed) {
    command[count++] = "--unix-socket";
    command[count++] = PN_SANDBOX_SERVE_SOCKET;
  }
  if (sandboxed && pn_sandbox_slirp4netns(spec->sandbox)) { /* see pn_sandbox_argv */
    command[count++] = "--x-wait-fd";
    command[count++] = PN_SANDBOX_BLOCK_FD_TEXT;
  }
  if (sandboxed && spec->hub_url && spec->hub_socket) {
    command[count++] = "--x-hub-url";
    command[count++] = spec->hub_url;
    command[count++] = "--x-hub-socket";
    command[count++] = PN_SANDBOX_HUB_SOCKET;
  }
  if (!sandboxed) {
    command[count++] = "--host";
    command[count++] = "127.0.0.1";
    command[count++] = "--port";
    command[count++] = "0";
    command[count++] = "--port-file";
    command[count++] = port_file;
  }
  if (spec->upload_url) {
    command[count++] = "--upload-url";
    command[count++] = spec->upload_url;
  }
  if (spec->python) {
    command[count++] = "--python";
    command[count++] = spec->python;
  }
  if (spec->mode && strcmp(spec->mode, "train") == 0) {
    command[count++] = "--x-mode";
    command[count++] = "train";
  }
  if (spec->bundle_dir) { /* Replicate shows a failure's traceback in its logs */
    command[count++] = "--x-traceback-in-logs";
    command[count++] = "--x-single-mode";
  }
  command[count] = NULL;
}

static int copy_command(const char *const *command, char ***argv) {
  size_t count = 0;
  while (command[count])
    count++;
  char **copy = pn_calloc(count + 1, sizeof *copy);
  if (!copy)
    return PN_ENOMEM;
  for (size_t i = 0; i < count; i++) {
    copy[i] = pn_strdup(command[i]);
    if (!copy[i]) {
      pn_sandbox_argv_free(copy);
      return PN_ENOMEM;
    }
  }
  *argv = copy;
  return 0;
}

static int prepare_launch(const pn_instance *instance, const pn_instance_spec *spec, launch *plan) {
  memset(plan, 0, sizeof *plan);
  plan->null_fd = plan->log_fd = plan->options_fd = -1;
  int sandboxed = spec->sandbox && spec->bundle_dir;
  const char *command[COMMAND_MAX];
  serve_command(spec, instance->port_path, command);
  int rc = sandboxed ? pn_sandbox_argv(spec->sandbox, spec->bundle_dir, instance->scratch_dir,
                                       spec->hub_socket, 1, command, &plan->argv)
                     : copy_command(command, &plan->argv);
  if (rc == 0 && sandboxed)
    rc = pn_sandbox_hide_options(&plan->argv, &plan->options_fd);
  if (rc < 0)
    return rc;
  plan->sandbox = sandboxed ? spec->sandbox : NULL;
  plan->network = instance->network;
  plan->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  plan->log_fd = open(instance->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (plan->null_fd < 0 || plan->log_fd < 0)
    return PN_EIO;
  int length = snprintf(plan->exec_failed, sizeof plan->exec_failed,
                        "pinion hub: could not run \"%s\": ", plan->argv[0]);
  plan->exec_failed_length =
      length > 0 && (size_t)length < sizeof plan->exec_failed ? (size_t)length : 0;
  plan->parent = getpid();
  return 0;
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void exec_child(const launch *plan) {
  /* A sandbox gets a session of its own, which also leaves it no controlling terminal
   * to inject input into (bubblewrap's --new-session would take its processes out of
   * this group, and out of reach of the group kill at the reap, which is what ends a
   * sandbox whose outer bubblewrap died before its inner one set --die-with-parent). */
  if (plan->sandbox)
    setsid();
  else
    setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != plan->parent) /* the hub died before prctl took effect */
    _exit(1);
  dup2(plan->null_fd, 0);
  dup2(plan->log_fd, 1);
  dup2(plan->log_fd, 2);
  struct sigaction defaults;
  memset(&defaults, 0, sizeof defaults);
  defaults.sa_handler = SIG_DFL;
  static const int reset[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
    sigaction(reset[i], &defaults, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Sockets the hub opened without close-on-exec (its listener, libcurl's) must not
   * outlive it in the instance; bubblewrap keeps only its options' fd. */
  unsigned first_closed = 3;
  if (plan->sandbox) {
    pn_sandbox_child_setup(plan->sandbox, plan->options_fd);
    first_closed = PN_SANDBOX_OPTIONS_FD + 1;
  }
  if (plan->network) {
    pn_sandbox_network_child(plan->network);
    first_closed = PN_SANDBOX_BLOCK_FD + 1;
  }
  syscall(SYS_close_range, first_closed, ~0u, 0u);
  /* bubblewrap gets no environment either: its own process stays in the sandbox as
   * pid 1, whose /proc/1/environ the model can read. */
  static char *const no_environment[] = {NULL};
  execve(plan->argv[0], plan->argv, plan->sandbox ? no_environment : environ);
  int saved = errno;
  ssize_t ignored = write(2, plan->exec_failed, plan->exec_failed_length);
  const char *reason = strerror(saved);
  ignored = write(2, reason, strlen(reason));
  ignored = write(2, "\n", 1);
  (void)ignored;
  _exit(127);
}

/* --- exit ----------------------------------------------------------------------------- */

char *pn_instance_log_tail(const pn_instance *instance, size_t max_bytes) {
  int fd = open(instance->log_path, O_RDONLY | O_CLOEXEC);
  struct stat info;
  if (fd < 0 || fstat(fd, &info) < 0 || info.st_size <= 0) {
    if (fd >= 0)
      close(fd);
    return pn_strdup("");
  }
  size_t size = (size_t)info.st_size;
  size_t length = size < max_bytes ? size : max_bytes;
  char *text = pn_malloc(length + 1);
  if (!text) {
    close(fd);
    return NULL;
  }
  ssize_t got = pread(fd, text, length, (off_t)(size - length));
  close(fd);
  length = got > 0 ? (size_t)got : 0;
  text[length] = '\0';
  char *start = text;
  if (size > length) { /* begin at a line */
    char *newline = memchr(text, '\n', length);
    if (newline)
      start = newline + 1;
  }
  while (*start == '\n' || *start == ' ')
    start++;
  size_t kept = strlen(start);
  while (kept && (start[kept - 1] == '\n' || start[kept - 1] == ' ' || start[kept - 1] == '\r'))
    kept--;
  memmove(text, start, kept);
  text[kept] = '\0';
  return text;
}

static char *diagnose(const pn_instance *instance) {
  char what[160];
  int status = instance->status;
  /* bubblewrap exits with 128 + N when what it ran was killed by signal N. */
  int relayed_signal = instance->sandboxed && WIFEXITED(status) && WEXITSTATUS(status) > 128
                           ? WEXITSTATUS(status) - 128
                           : 0;
  if (relayed_signal) {
    const char *name = sigabbrev_np(relayed_signal);
    snprintf(what, sizeof what, "was killed by signal %d (SIG%s)", relayed_signal,
             name ? name : "?");
  } else if (WIFEXITED(status)) {
    snprintf(what, sizeof what, "exited with code %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    const char *name = sigabbrev_np(WTERMSIG(status));
    snprintf(what, sizeof what, "was killed by signal %d (SIG%s)", WTERMSIG(status),
             name ? name : "?");
  } else {
    snprintf(what, sizeof what, "ended");
  }
  char *tail = pn_instance_log_tail(instance, LOG_TAIL_DIAGNOSIS);
  char *text;
  if (tail && *tail)
    text = pn_strfmt("the instance (pinion serve, pid %d) %s; its log ends with:\n%s",
                     (int)instance->pid, what, tail);
  else
    text = pn_strfmt("the instance (pinion serve, pid %d) %s; its log is empty", (int)instance->pid,
                     what);
  pn_free(tail);
  return text;
}

static void report_exit(evutil_socket_t fd, short what, void *arg) {
  pn_instance *instance = arg;
  /* on_exit may free the instance: nothing touches it afterwards. */
  instance->callbacks.on_exit(instance, instance->diagnosis ? instance->diagnosis : "",
                              instance->stop_requested, instance->arg);
}

static int try_reap(pn_instance *instance) {
  if (instance->reaped)
    return 1;
  int status = 0;
  pid_t got = wait4(instance->pid, &status, WNOHANG, NULL);
  if (got != instance->pid)
    return 0;
  instance->reaped = 1;
  instance->status = status;
  instance->state = EXITED;
  /* Whatever the instance left in its group (it leads it) goes with it. */
  kill(-instance->pid, SIGKILL);
  instance->group_killed = 1;
  if (instance->health) {
    pn_http_transfer_cancel(instance->health);
    instance->health = NULL;
  }
  event_del(instance->poll_timer);
  event_del(instance->boot_timer);
  event_del(instance->kill_timer);
  event_del(instance->reap_timer);
  event_del(instance->child_event);
  instance->diagnosis = diagnose(instance);
  event_active(instance->report_event, EV_TIMEOUT, 0);
  return 1;
}

int pn_instance_check_exit(pn_instance *instance) { return try_reap(instance); }

static void on_child(evutil_socket_t fd, short what, void *arg) {
  pn_instance *instance = arg;
  pn_sandbox_network_reap(instance->network);
  try_reap(instance);
}

static void on_reap_timer(evutil_socket_t fd, short what, void *arg) {
  pn_instance *instance = arg;
  if (!try_reap(instance))
    add_timer(instance->reap_timer, SAFETY_REAP_SECONDS);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg) {
  pn_instance *instance = arg;
  if (instance->reaped)
    return;
  kill(-instance->pid, SIGKILL);
  kill(instance->pid, SIGKILL);
}

void pn_instance_stop(pn_instance *instance, double grace) {
  if (instance->reaped || instance->stop_requested)
    return;
  instance->stop_requested = 1;
  if (instance->health) {
    pn_http_transfer_cancel(instance->health);
    instance->health = NULL;
  }
  event_del(instance->poll_timer);
  event_del(instance->boot_timer);
  /* pinion serve drains on SIGTERM; its worker and what the model started are in
   * groups of their own that serve stops. */
  kill(instance->pid, SIGTERM);
  add_timer(instance->kill_timer, grace);
}

/* --- boot ----------------------------------------------------------------------------- */

static void boot_failed(pn_instance *instance, const char *error) {
  instance->state = BOOT_FAILED;
  pn_instance_stop(instance, 10.0);
  instance->callbacks.on_boot_failed(instance, error, instance->arg);
}

static void schedule_poll(pn_instance *instance) {
  add_timer(instance->poll_timer, instance->poll_interval);
  instance->poll_interval *= 1.5;
  if (instance->poll_interval > MAX_POLL_SECONDS)
    instance->poll_interval = MAX_POLL_SECONDS;
}

static void became_ready(pn_instance *instance) {
  instance->state = READY;
  event_del(instance->boot_timer);
  double seconds = (double)(instance->ready_ns - instance->started_ns) / 1e9;
  instance->callbacks.on_ready(instance, seconds, instance->arg);
}

/* `pinion_slots` from GET /metrics: how many predictions the instance takes at once
 * (a batching model: 2 x max_size by default, docs/batching.md). Anything else than a
 * number from 1 to SLOTS_MAX there (a server that has no such metric, an error) leaves
 * one slot, what the hub always assumed. */
static void on_metrics(const pn_http_response *response, void *arg) {
  pn_instance *instance = arg;
  instance->health = NULL;
  if (instance->state != BOOTING)
    return;
  double value = 0;
  int rc = response->ok && response->status == 200 && response->body
               ? pn_metrics_read_sample(response->body->data, response->body->length,
                                        "pinion_slots", &value)
               : PN_ENOENT;
  if (rc == 0 && value >= 1 && value <= SLOTS_MAX && value == (double)(int)value)
    instance->slots = (int)value;
  else if (response->ok && response->status == 200)
    pn_warn("hub: the instance at %s reported no usable pinion_slots in GET /metrics; "
            "it gets one prediction at a time",
            pn_instance_address(instance));
  became_ready(instance);
}

static void ask_slots(pn_instance *instance) {
  instance->ready_ns = pn_clock_monotonic_ns();
  /* Where the health check went: its socket for a sandbox, else its loopback port. */
  if (pn_cog_get_metrics(instance->client, &instance->server, on_metrics, instance,
                         &instance->health) < 0)
    became_ready(instance);
}

static void on_health(const pn_http_response *response, void *arg) {
  pn_instance *instance = arg;
  instance->health = NULL;
  if (instance->state != BOOTING)
    return;
  char *error = NULL;
  switch (pn_cog_health_read(response, &error)) {
  case PN_COG_READY: {
    ask_slots(instance);
    return;
  }
  case PN_COG_FAILED:
    boot_failed(instance, error ? error : "the model's setup failed");
    pn_free(error);
    return;
  case PN_COG_STARTING:
    schedule_poll(instance); /* not up yet, or still STARTING */
    return;
  }
}

static int read_port(pn_instance *instance) {
  char *text = NULL;
  size_t length = 0;
  if (pn_fs_read(instance->port_path, 64, &text, &length) < 0)
    return 0;
  char *end = NULL;
  long port = strtol(text, &end, 10);
  int complete = end && end != text && *end == '\n'; /* serve writes "PORT\n" */
  pn_free(text);
  return complete && port > 0 && port < 65536 ? (int)port : 0;
}

/* Where the model server listens: its socket, or the port from its port file (0 until
 * it wrote one). */
static int find_server(pn_instance *instance) {
  if (instance->server.unix_socket)
    return 1;
  if (!instance->port)
    instance->port = read_port(instance);
  if (!instance->port)
    return 0;
  snprintf(instance->base_url, sizeof instance->base_url, "http://127.0.0.1:%d", instance->port);
  return 1;
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg) {
  pn_instance *instance = arg;
  if (instance->state != BOOTING || instance->health)
    return;
  /* Until the socket is there, connecting fails and the poll goes on. */
  if (!find_server(instance) || pn_cog_health_check(instance->client, &instance->server, on_health,
                                                    instance, &instance->health) < 0)
    schedule_poll(instance);
}

static void on_boot_timer(evutil_socket_t fd, short what, void *arg) {
  pn_instance *instance = arg;
  if (instance->state != BOOTING)
    return;
  char *tail = pn_instance_log_tail(instance, LOG_TAIL_DIAGNOSIS);
  char *error = pn_strfmt("the instance did not become ready within %g s (the boot timeout); "
                          "its log ends with:\n%s",
                          instance->boot_timeout, tail ? tail : "");
  boot_failed(instance, error ? error : "the instance did not become ready in time");
  pn_free(error);
  pn_free(tail);
}

/* --- the sandbox's network -------------------------------------------------------------- */

/* The model server starts only now; the poll finds it when it listens. */
static void on_network_ready(void *arg) {
  pn_instance *instance = arg;
  pn_debug("hub: an instance's sandbox has its network %.1f ms after its start",
           (double)(pn_clock_monotonic_ns() - instance->started_ns) / 1e6);
}

static void on_network_failed(const char *error, void *arg) {
  pn_instance *instance = arg;
  if (instance->state != BOOTING)
    return;
  char *tail = pn_instance_log_tail(instance, LOG_TAIL_DIAGNOSIS);
  char *text = tail && *tail ? pn_strfmt("%s; the instance's log ends with:\n%s", error, tail)
                             : NULL;
  boot_failed(instance, text ? text : error);
  pn_free(text);
  pn_free(tail);
}

/* --- start and free ------------------------------------------------------------------- */

static void free_instance(pn_instance *instance) {
  if (instance->health)
    pn_http_transfer_cancel(instance->health);
  struct event *events[] = {instance->child_event, instance->poll_timer, instance->boot_timer,
                            instance->kill_timer,  instance->reap_timer, instance->report_event};
  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
    if (events[i])
      event_free(events[i]);
  if (instance->scratch_dir)
    pn_fs_remove_tree(instance->scratch_dir);
  if (instance->socket_dir_fd >= 0)
    close(instance->socket_dir_fd);
  pn_sandbox_network_free(instance->network);
  pn_free(instance->scratch_dir);
  pn_free(instance->serve_socket);
  pn_free(instance->port_path);
  pn_free(instance->log_path);
  pn_free(instance->diagnosis);
  pn_free(instance);
}

int pn_instance_start(struct event_base *base, pn_http_client *client, const pn_instance_spec *spec,
                      const pn_instance_callbacks *callbacks, void *arg, pn_instance **out,
                      char **error) {
  *out = NULL;
  *error = NULL;
  pn_instance *instance = pn_calloc(1, sizeof *instance);
  if (!instance)
    return PN_ENOMEM;
  instance->base = base;
  instance->client = client;
  instance->callbacks = *callbacks;
  instance->arg = arg;
  instance->boot_timeout = spec->boot_timeout > 0 ? spec->boot_timeout : 600;
  instance->poll_interval = FIRST_POLL_SECONDS;
  instance->socket_dir_fd = -1;
  snprintf(instance->base_url, sizeof instance->base_url, "http://localhost");
  instance->server.base_url = instance->base_url;
  instance->scratch_dir = pn_strdup(spec->scratch_dir);
  instance->port_path = pn_fs_join(spec->scratch_dir, "port");
  instance->log_path = pn_fs_join(spec->scratch_dir, "log");
  instance->child_event = evsignal_new(base, SIGCHLD, on_child, instance);
  instance->poll_timer = evtimer_new(base, on_poll_timer, instance);
  instance->boot_timer = evtimer_new(base, on_boot_timer, instance);
  instance->kill_timer = evtimer_new(base, on_kill_timer, instance);
  instance->reap_timer = evtimer_new(base, on_reap_timer, instance);
  instance->report_event = event_new(base, -1, 0, report_exit, instance);
  if (!instance->scratch_dir || !instance->port_path || !instance->log_path ||
      !instance->child_event || !instance->poll_timer || !instance->boot_timer ||
      !instance->kill_timer || !instance->reap_timer || !instance->report_event) {
    free_instance(instance);
    return PN_ENOMEM;
  }
  if (make_dirs(spec->scratch_dir) < 0) {
    *error = pn_strfmt("could not create the instance's folder \"%s\": %s", spec->scratch_dir,
                       strerror(errno));
    pn_free(instance->scratch_dir); /* not ours to remove */
    instance->scratch_dir = NULL;
    free_instance(instance);
    return PN_EIO;
  }
  unlink(instance->port_path);
  int rc = 0;
  if (spec->sandbox && spec->bundle_dir) {
    instance->serve_socket = pn_fs_join(spec->scratch_dir, PN_SANDBOX_SERVE_SOCKET_NAME);
    rc = instance->serve_socket ? pn_unix_address(instance->serve_socket, instance->socket_address,
                                                  &instance->socket_dir_fd)
                                : PN_ENOMEM;
    if (rc < 0) {
      *error = pn_strfmt("could not reach into the instance's folder \"%s\": %s", spec->scratch_dir,
                         rc == PN_ENOMEM ? "out of memory" : strerror(errno));
      free_instance(instance);
      return rc;
    }
    instance->server.unix_socket = instance->socket_address;
  }
  launch plan;
  rc = prepare_launch(instance, spec, &plan);
  const char *slirp4netns =
      plan.sandbox && rc == 0 ? pn_sandbox_slirp4netns(spec->sandbox) : NULL;
  if (slirp4netns) {
    rc = pn_sandbox_network_new(slirp4netns, plan.log_fd, &instance->network);
    plan.network = instance->network;
  }
  if (rc < 0) {
    *error = pn_strfmt("could not prepare the instance (%s): %s", instance->log_path,
                       rc == PN_ENOMEM ? "out of memory" : strerror(errno));
    free_launch(&plan);
    free_instance(instance);
    return rc;
  }
  event_add(instance->child_event, NULL);
  instance->started_ns = pn_clock_monotonic_ns();
  instance->slots = 1;
  pid_t pid = fork();
  if (pid == 0)
    exec_child(&plan);
  int saved = errno;
  int sandboxed = plan.sandbox != NULL;
  free_launch(&plan);
  if (pid < 0) {
    *error = pn_strfmt("could not start an instance: fork: %s", strerror(saved));
    free_instance(instance);
    return PN_ECHILD;
  }
  /* Also done by the child; whichever runs first wins the race. A sandboxed child calls
   * setsid, which a group leader may not: it makes its group itself. */
  if (!sandboxed)
    setpgid(pid, pid);
  instance->pid = pid;
  static const pn_sandbox_network_callbacks network_callbacks = {on_network_ready,
                                                                 on_network_failed};
  if (instance->network &&
      pn_sandbox_network_start(instance->network, base, &network_callbacks, instance) < 0) {
    /* bubblewrap waits for a network that will not come: it is ended like a failed boot */
    *error = pn_strdup("could not watch the sandbox's network setup: out of memory");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    free_instance(instance);
    return PN_ENOMEM;
  }
  instance->sandboxed = sandboxed;
  instance->state = BOOTING;
  add_timer(instance->poll_timer, FIRST_POLL_SECONDS);
  add_timer(instance->boot_timer, instance->boot_timeout);
  add_timer(instance->reap_timer, SAFETY_REAP_SECONDS);
  *out = instance;
  return 0;
}

static int reap_blocking(pn_instance *instance, uint64_t deadline_ns) {
  while (!instance->reaped) {
    int status = 0;
    pid_t got = waitpid(instance->pid, &status, WNOHANG);
    if (got == instance->pid || (got < 0 && errno == ECHILD)) {
      instance->reaped = 1;
      break;
    }
    if (pn_clock_monotonic_ns() >= deadline_ns)
      return 0;
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return 1;
}

void pn_instance_free_all(pn_instance **instances, size_t count, double grace) {
  for (size_t i = 0; i < count; i++)
    if (instances[i] && !instances[i]->reaped && instances[i]->pid > 0)
      kill(instances[i]->pid, SIGTERM);
  uint64_t deadline = pn_clock_monotonic_ns() + (uint64_t)(grace * 1e9);
  for (size_t i = 0; i < count; i++)
    if (instances[i] && instances[i]->pid > 0)
      reap_blocking(instances[i], deadline);
  for (size_t i = 0; i < count; i++) {
    pn_instance *instance = instances[i];
    if (!instance)
      continue;
    if (instance->pid > 0 && !instance->group_killed) {
      kill(-instance->pid, SIGKILL);
      if (!instance->reaped) {
        kill(instance->pid, SIGKILL);
        reap_blocking(instance, pn_clock_monotonic_ns() + 5000000000ull);
      }
    }
    free_instance(instance);
  }
}

void pn_instance_free(pn_instance *instance, double grace) {
  if (instance)
    pn_instance_free_all(&instance, 1, grace);
}

/* --- requests ------------------------------------------------------------------------- */

int pn_instance_put_prediction(pn_instance *instance, const char *id, const char *body,
                               pn_http_done_fn done, void *arg, pn_http_transfer **transfer) {
  if (instance->state != READY)
    return PN_ESTATE;
  return pn_cog_put_prediction(instance->client, &instance->server, id, body, done, arg, transfer);
}

int pn_instance_cancel_prediction(pn_instance *instance, const char *id, pn_http_done_fn done,
                                  void *arg, pn_http_transfer **transfer) {
  if (instance->state != READY)
    return PN_ESTATE;
  return pn_cog_cancel_prediction(instance->client, &instance->server, id, done, arg, transfer);
}

pid_t pn_instance_pid(const pn_instance *instance) { return instance->pid; }

const char *pn_instance_address(const pn_instance *instance) {
  return instance->server.unix_socket ? instance->serve_socket : instance->base_url;
}
int pn_instance_slots(const pn_instance *instance) { return instance->slots; }

const pn_cog_server *pn_instance_server(const pn_instance *instance) { return &instance->server; }
