/* Starting and supervising the worker process. The worker runs in its own process
 * group so that anything the model starts dies with it. Its end of the socketpair is
 * inherited as PINION_IPC_FD; stdout and stderr are pipes read on the loop. The exit is
 * reported once the process has been reaped and its output drained, so a diagnosis
 * always comes with everything the worker managed to print. */
#include "runtime/worker.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/startup_trace.h"
#include "runtime/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a worker whose channel closed may take to exit before it is killed: a
 * process that ends closes its channel a moment before the kernel reports the exit, so
 * only a worker that shut its channel and went on (the model's code closed or shut the
 * descriptor) is still running after this. */
#define CHANNEL_CLOSED_GRACE_NS 1000000000ull
#define CHANNEL_CLOSED_GRACE_TEXT "1 s"

/* The worker's entry (docs/internals/worker-protocol.md, "Starting the worker"). */
#define PN_WORKER_PROGRAM                                                                  \
  "import os, sys; sys.path[0] = os.getcwd(); from pinion_worker.main import main; "       \
  "sys.exit(main())"

extern char **environ;

struct pn_worker {
  struct event_base *base;
  pn_worker_callbacks callbacks;
  void *arg;
  pid_t pid;
  pn_ipc *ipc;
  int output_fds[2]; /* stdout, stderr read ends; -1 once closed */
  struct event *output_events[2];
  struct event *child_event;  /* SIGCHLD */
  struct event *reap_timer;   /* polls for the exit when SIGCHLD is missed */
  uint64_t channel_closed_ns; /* monotonic time its channel closed, 0 while open */
  struct event *report_event; /* reports the exit from a fresh loop iteration */
  pn_worker_exit exit;
  int reaped;
  int reported;
};

static void close_output(pn_worker *worker, int index) {
  if (worker->output_events[index]) {
    event_free(worker->output_events[index]);
    worker->output_events[index] = NULL;
  }
  if (worker->output_fds[index] >= 0) {
    close(worker->output_fds[index]);
    worker->output_fds[index] = -1;
  }
}

/* Reads what the pipe holds now; returns 0 at end of file, 1 otherwise. */
static int read_output(pn_worker *worker, int index) {
  char chunk[65536];
  for (;;) {
    ssize_t got = read(worker->output_fds[index], chunk, sizeof chunk);
    if (got > 0) {
      if (worker->callbacks.on_output)
        worker->callbacks.on_output(worker, index + 1, chunk, (size_t)got, worker->arg);
      continue;
    }
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 1;
    return 0;
  }
}

void pn_worker_drain_output(pn_worker *worker) {
  for (int index = 0; index < 2; index++)
    if (worker->output_fds[index] >= 0 && !read_output(worker, index))
      close_output(worker, index);
}

static void on_output_readable(evutil_socket_t fd, short what, void *arg) {
  pn_worker *worker = arg;
  int index = fd == worker->output_fds[0] ? 0 : 1;
  if (!read_output(worker, index))
    close_output(worker, index);
}

static void report_exit(evutil_socket_t fd, short what, void *arg) {
  pn_worker *worker = arg;
  if (worker->reported)
    return;
  worker->reported = 1;
  pn_worker_drain_output(worker);
  close_output(worker, 0);
  close_output(worker, 1);
  if (worker->callbacks.on_exit)
    worker->callbacks.on_exit(worker, &worker->exit, worker->arg);
}

static void try_reap(pn_worker *worker) {
  if (worker->reaped || worker->pid <= 0)
    return;
  int status = 0;
  struct rusage usage;
  memset(&usage, 0, sizeof usage);
  pid_t got = wait4(worker->pid, &status, WNOHANG, &usage);
  if (got != worker->pid)
    return;
  worker->reaped = 1;
  worker->exit.peak_rss_kb = usage.ru_maxrss;
  if (WIFEXITED(status)) {
    worker->exit.exited = 1;
    worker->exit.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    worker->exit.signal = WTERMSIG(status);
  }
  /* Anything the model's children still hold open no longer concerns us. */
  kill(-worker->pid, SIGKILL);
  if (worker->ipc) {
    pn_ipc_close(worker->ipc);
    worker->ipc = NULL;
  }
  event_del(worker->reap_timer);
  event_active(worker->report_event, EV_TIMEOUT, 0);
}

static void on_child(evutil_socket_t fd, short what, void *arg) { try_reap(arg); }

/* Polls until the worker is reaped: after its channel closed, or after a kill (in case
 * SIGCHLD was missed). A worker still running CHANNEL_CLOSED_GRACE_NS after its channel
 * closed can take no more work and would hold its predictions for ever: it is killed,
 * and its predictions fail with a diagnosis that says so. */
static void on_reap_timer(evutil_socket_t fd, short what, void *arg) {
  pn_worker *worker = arg;
  try_reap(worker);
  if (worker->reaped)
    return;
  if (worker->channel_closed_ns && !worker->exit.killed_by_us &&
      pn_clock_monotonic_ns() - worker->channel_closed_ns >= CHANNEL_CLOSED_GRACE_NS) {
    worker->exit.protocol_error = pn_strdup("it closed its channel to the server but did not "
                                            "exit within " CHANNEL_CLOSED_GRACE_TEXT);
    pn_worker_kill(worker);
    return;
  }
  struct timeval poll_interval = {0, 20000};
  event_add(worker->reap_timer, &poll_interval);
}

static void on_message(pn_ipc *ipc, json_t *message, void *arg) {
  pn_worker *worker = arg;
  if (worker->callbacks.on_message)
    worker->callbacks.on_message(worker, message, worker->arg);
}

static void on_channel_closed(pn_ipc *ipc, int error, const char *reason, void *arg) {
  pn_worker *worker = arg;
  worker->channel_closed_ns = pn_clock_monotonic_ns();
  /* A socket error is how the channel ends when the worker dies with frames it had not
   * read (ECONNRESET): the end of the process, whose exit status says why, not a broken
   * protocol. */
  if (error < 0 && error != PN_EIO && !worker->exit.protocol_error) {
    worker->exit.protocol_error = pn_strdup(reason);
    pn_worker_kill(worker);
  }
  /* The process is ending (or broke the protocol); poll until it is reaped, and kill
   * it if it lingers without its channel (on_reap_timer). */
  struct timeval poll_interval = {0, 20000};
  event_add(worker->reap_timer, &poll_interval);
}

static char **build_environment(const pn_worker_spec *spec, int ipc_fd) {
  size_t inherited = 0;
  while (environ[inherited])
    inherited++;
  size_t total = inherited + spec->environment_count + 10;
  char **env = pn_calloc(total, sizeof *env);
  if (!env)
    return NULL;
  static const char *replaced[] = {"PYTHONPATH=", "PYTHONUNBUFFERED=", "PINION_IPC_FD=",
                                   "PINION_PREDICTOR=", "PINION_MODE=", "PINION_WORKER_ACTION=",
                                   "PINION_POLL_US="};
  const char *old_pythonpath = getenv("PYTHONPATH");
  size_t count = 0;
  for (size_t i = 0; i < inherited; i++) {
    int skip = 0;
    for (size_t r = 0; r < sizeof replaced / sizeof replaced[0]; r++)
      skip |= strncmp(environ[i], replaced[r], strlen(replaced[r])) == 0;
    if (!skip)
      env[count++] = pn_strdup(environ[i]);
  }
  for (size_t i = 0; i < spec->environment_count; i++)
    env[count++] = pn_strdup(spec->environment[i]);
  if (old_pythonpath && *old_pythonpath)
    env[count++] =
        pn_strfmt("PYTHONPATH=%s:%s:%s", spec->python_dir, spec->project_dir, old_pythonpath);
  else
    env[count++] = pn_strfmt("PYTHONPATH=%s:%s", spec->python_dir, spec->project_dir);
  env[count++] = pn_strdup("PYTHONUNBUFFERED=1");
  env[count++] = pn_strfmt("PINION_IPC_FD=%d", ipc_fd);
  env[count++] = pn_strfmt("PINION_PREDICTOR=%s", spec->predictor);
  env[count++] = pn_strfmt("PINION_MODE=%s", spec->mode);
  env[count++] = pn_strfmt("PINION_WORKER_ACTION=%s", spec->action);
  env[count++] = pn_strfmt("PINION_POLL_US=%ld", spec->poll_us > 0 ? spec->poll_us : 0L);
  for (size_t i = 0; i < count; i++) {
    if (!env[i]) {
      for (size_t j = 0; j < count; j++)
        pn_free(env[j]);
      pn_free(env);
      return NULL;
    }
  }
  return env;
}

static void free_environment(char **env) {
  if (!env)
    return;
  for (size_t i = 0; env[i]; i++)
    pn_free(env[i]);
  pn_free(env);
}

static int spawn(pn_worker *worker, const pn_worker_spec *spec, int ipc_fd, int out_fd,
                 int err_fd, char **error) {
  char **env = build_environment(spec, ipc_fd);
  if (!env)
    return PN_ENOMEM;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addchdir_np(&actions, spec->project_dir);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGUSR1);
  sigaddset(&defaults, SIGCHLD);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETSIGMASK);
  /* What `-m pinion_worker` does, without runpy: `-m` imports runpy, importlib.util,
   * contextlib, collections and functools before the first line of the worker (5-10 ms
   * of a trivial model's start). sys.path[0] is the model's folder, as `-m` sets it. */
  char *argv[] = {(char *)spec->python, "-u", "-c", (char *)PN_WORKER_PROGRAM, NULL};
  pn_startup_mark("worker_spawn");
  int rc = posix_spawnp(&worker->pid, spec->python, &actions, &attributes, argv, env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  free_environment(env);
  if (rc != 0) {
    *error = pn_strfmt("could not start the model's Python \"%s\": %s", spec->python,
                       strerror(rc));
    worker->pid = 0;
    return PN_ECHILD;
  }
  return 0;
}

int pn_worker_start(struct event_base *base, const pn_worker_spec *spec,
                    const pn_worker_callbacks *callbacks, void *arg, pn_worker **out,
                    char **error) {
  *out = NULL;
  *error = NULL;
  pn_worker *worker = pn_calloc(1, sizeof *worker);
  if (!worker)
    return PN_ENOMEM;
  worker->base = base;
  worker->callbacks = *callbacks;
  worker->arg = arg;
  worker->output_fds[0] = worker->output_fds[1] = -1;
  int sockets[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  int rc = PN_EIO;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) < 0 ||
      pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
    *error = pn_strfmt("could not create the worker's channels: %s", strerror(errno));
    goto fail;
  }
  /* The worker's end of the socket must survive exec; the pipes are dup2'd onto 1
   * and 2, which clears close-on-exec for the copies. */
  fcntl(sockets[1], F_SETFD, 0);
  worker->child_event = evsignal_new(base, SIGCHLD, on_child, worker);
  worker->reap_timer = evtimer_new(base, on_reap_timer, worker);
  worker->report_event = event_new(base, -1, 0, report_exit, worker);
  if (!worker->child_event || !worker->reap_timer || !worker->report_event) {
    rc = PN_ENOMEM;
    goto fail;
  }
  event_add(worker->child_event, NULL);
  rc = spawn(worker, spec, sockets[1], out_pipe[1], err_pipe[1], error);
  if (rc < 0)
    goto fail;
  close(sockets[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  sockets[1] = out_pipe[1] = err_pipe[1] = -1;
  worker->output_fds[0] = out_pipe[0];
  worker->output_fds[1] = err_pipe[0];
  for (int index = 0; index < 2; index++) {
    evutil_make_socket_nonblocking(worker->output_fds[index]);
    worker->output_events[index] = event_new(base, worker->output_fds[index],
                                             EV_READ | EV_PERSIST, on_output_readable, worker);
    if (!worker->output_events[index]) {
      rc = PN_ENOMEM;
      goto fail_running;
    }
    event_add(worker->output_events[index], NULL);
  }
  rc = pn_ipc_open(base, sockets[0], on_message, on_channel_closed, worker, &worker->ipc);
  if (rc < 0)
    goto fail_running;
  *out = worker;
  return 0;

fail_running:
  sockets[0] = -1;
  pn_worker_free(worker);
  return rc;
fail:
  for (int i = 0; i < 2; i++) {
    if (sockets[i] >= 0)
      close(sockets[i]);
    if (out_pipe[i] >= 0)
      close(out_pipe[i]);
    if (err_pipe[i] >= 0)
      close(err_pipe[i]);
  }
  worker->output_fds[0] = worker->output_fds[1] = -1;
  pn_worker_free(worker);
  return rc;
}

int pn_worker_send(pn_worker *worker, const json_t *message) {
  if (!worker->ipc)
    return PN_ECLOSED;
  return pn_ipc_send(worker->ipc, message);
}

int pn_worker_send_frames(pn_worker *worker, const pn_buf *frames) {
  if (!worker->ipc)
    return PN_ECLOSED;
  return pn_ipc_send_frames(worker->ipc, frames);
}

int pn_worker_signal(pn_worker *worker, int signal_number) {
  if (worker->reaped || worker->pid <= 0)
    return PN_ESTATE;
  return kill(worker->pid, signal_number) < 0 ? PN_EIO : 0;
}

void pn_worker_kill(pn_worker *worker) {
  if (worker->reaped || worker->pid <= 0)
    return;
  worker->exit.killed_by_us = 1;
  kill(-worker->pid, SIGKILL);
  kill(worker->pid, SIGKILL);
  struct timeval poll_interval = {0, 5000};
  event_add(worker->reap_timer, &poll_interval);
}

pid_t pn_worker_pid(const pn_worker *worker) { return worker->pid; }

void pn_worker_free(pn_worker *worker) {
  if (!worker)
    return;
  if (worker->pid > 0 && !worker->reaped) {
    kill(-worker->pid, SIGKILL);
    kill(worker->pid, SIGKILL);
    waitpid(worker->pid, NULL, 0);
  }
  if (worker->ipc)
    pn_ipc_close(worker->ipc);
  close_output(worker, 0);
  close_output(worker, 1);
  if (worker->child_event)
    event_free(worker->child_event);
  if (worker->reap_timer)
    event_free(worker->reap_timer);
  if (worker->report_event)
    event_free(worker->report_event);
  pn_free(worker->exit.protocol_error);
  pn_free(worker);
}

static void format_memory(long kilobytes, char *out, size_t size) {
  if (kilobytes >= 1024 * 1024)
    snprintf(out, size, "%.1f GiB", (double)kilobytes / (1024.0 * 1024.0));
  else
    snprintf(out, size, "%.1f MiB", (double)kilobytes / 1024.0);
}

/* A signal's short name ("KILL", "SEGV"). sigabbrev_np needs glibc 2.32; Debian 11's
 * 2.31 (a base pinion is compiled on in images) falls back to the common ones. */
static const char *signal_name(int number) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  return sigabbrev_np(number);
#else
  switch (number) {
  case SIGKILL: return "KILL";
  case SIGSEGV: return "SEGV";
  case SIGABRT: return "ABRT";
  case SIGBUS: return "BUS";
  case SIGFPE: return "FPE";
  case SIGILL: return "ILL";
  case SIGTERM: return "TERM";
  case SIGINT: return "INT";
  default: return NULL;
  }
#endif
}

char *pn_worker_diagnose(const pn_worker_exit *exit) {
  char memory[32];
  format_memory(exit->peak_rss_kb, memory, sizeof memory);
  if (exit->protocol_error)
    return pn_strfmt("the worker broke pinion's protocol (%s) and was stopped; peak memory %s",
                     exit->protocol_error, memory);
  if (exit->exited)
    return pn_strfmt("the worker exited with code %d (peak memory %s): the model's code, or a "
                     "library it uses, ended the process (os._exit, or a fatal error in native "
                     "code)",
                     exit->code, memory);
  const char *name = signal_name(exit->signal);
  const char *cause;
  switch (exit->signal) {
  case SIGKILL:
    cause = exit->killed_by_us
                ? "pinion stopped it"
                : "something outside the worker killed it; the kernel's out-of-memory killer "
                  "does this when memory runs out, so check the peak memory against what the "
                  "machine or container allows";
    break;
  case SIGSEGV:
  case SIGBUS:
    cause = "native code in the model or one of its libraries crashed (a memory fault)";
    break;
  case SIGABRT:
    cause = "native code in the model or one of its libraries aborted";
    break;
  case SIGFPE:
    cause = "native code hit an arithmetic fault";
    break;
  default:
    cause = "the process received a fatal signal";
  }
  return pn_strfmt("the worker was killed by signal %d (SIG%s) with a peak memory of %s: %s",
                   exit->signal, name ? name : "?", memory, cause);
}

char *pn_worker_python_dir(char **error) {
  *error = NULL;
  const char *override = getenv("PINION_PYTHON_DIR");
  char *dir = override && *override ? pn_strdup(override)
                                    : pn_strfmt("%s/../lib/pinion/python", pn_fs_self_dir());
  if (!dir)
    return NULL;
  char *marker = pn_fs_join(dir, "pinion_worker/__main__.py");
  int found = marker && pn_fs_is_file(marker);
  pn_free(marker);
  if (!found) {
    *error = pn_strfmt("pinion's Python support is missing (looked for %s/pinion_worker); "
                       "rebuild with 'make' or reinstall with 'make install'",
                       dir);
    pn_free(dir);
    return NULL;
  }
  char resolved[4096];
  if (realpath(dir, resolved)) {
    pn_free(dir);
    return pn_strdup(resolved);
  }
  return dir;
}
