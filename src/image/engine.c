/* Engine discovery and child processes. See engine.h.
 *
 * Machines without systemd, or containers running podman inside them, need settings
 * podman does not pick by itself: runc (crun wants its own mount namespace), the vfs
 * storage driver (overlay cannot nest), cgroupfs, file events, small ulimits (the
 * defaults exceed what a nested runtime may set) and the host's network (no
 * netavark/slirp there). pinion detects such a machine and writes the settings to
 * $XDG_CONFIG_HOME/pinion/containers.conf and storage.conf, and points the engine at
 * them through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF, unless the user set those. */
#include "image/engine.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CAPTURE_LIMIT (64 * 1024 * 1024)

void pn_image_argv_init(pn_image_argv *argv) { memset(argv, 0, sizeof *argv); }

void pn_image_argv_add(pn_image_argv *argv, const char *item) {
  if (argv->failed)
    return;
  if (argv->count + 2 > argv->capacity) {
    size_t capacity = argv->capacity ? argv->capacity * 2 : 16;
    char **items = pn_realloc(argv->items, capacity * sizeof *items);
    if (!items) {
      argv->failed = 1;
      return;
    }
    argv->items = items;
    argv->capacity = capacity;
  }
  if (!(argv->items[argv->count] = pn_strdup(item))) {
    argv->failed = 1;
    return;
  }
  argv->items[++argv->count] = NULL;
}

void pn_image_argv_addf(pn_image_argv *argv, const char *format, ...) {
  va_list args;
  va_start(args, format);
  pn_buf text;
  pn_buf_init(&text, 1 << 20);
  if (pn_buf_vappendf(&text, format, args) < 0)
    argv->failed = 1;
  va_end(args);
  pn_image_argv_add(argv, text.data ? text.data : "");
  pn_buf_free(&text);
}

void pn_image_argv_free(pn_image_argv *argv) {
  for (size_t i = 0; i < argv->count; i++)
    pn_free(argv->items[i]);
  pn_free(argv->items);
  memset(argv, 0, sizeof *argv);
}

static long now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1000L + now.tv_nsec / 1000000L;
}

static int exit_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* Starts argv with stdout (and, with_stderr, stderr) on a pipe whose read end comes
 * back in *read_fd; quiet sends stderr to /dev/null. */
static int spawn_piped(const pn_image_argv *argv, int capture, int flags, pid_t *pid,
                       int *read_fd) {
  if (argv->failed || !argv->count)
    return PN_ENOMEM;
  int pipe_fds[2] = {-1, -1};
  if (capture && pipe2(pipe_fds, O_CLOEXEC) < 0)
    return PN_EIO;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (capture)
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  if (flags & PN_RUN_QUIET)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  else if (capture && (flags & PN_RUN_WITH_STDERR))
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  int rc = posix_spawnp(pid, argv->items[0], &actions, NULL, argv->items, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (capture)
    close(pipe_fds[1]);
  if (rc != 0) {
    if (capture)
      close(pipe_fds[0]);
    return PN_ENOENT;
  }
  *read_fd = pipe_fds[0];
  return 0;
}

/* Reads the child's pipe until it closes (or the deadline passes, then kills it),
 * handing bytes to `sink`; then reaps it. */
static int drain(pid_t pid, int fd, int timeout_ms, void (*sink)(const char *, size_t, void *),
                 void *arg) {
  long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
  int killed = 0;
  char chunk[65536];
  while (fd >= 0) {
    struct pollfd poll_fd = {fd, POLLIN, 0};
    int wait = deadline ? (int)(deadline - now_ms()) : -1;
    if (deadline && wait <= 0) {
      kill(pid, SIGKILL);
      killed = 1;
      break;
    }
    int ready = poll(&poll_fd, 1, wait);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      continue;
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    sink(chunk, (size_t)got, arg);
  }
  if (fd >= 0)
    close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return killed ? PN_ETIMEOUT : exit_status(status);
}

static void sink_buf(const char *bytes, size_t length, void *arg) {
  pn_buf_append(arg, bytes, length);
}

int pn_image_run(const pn_image_argv *argv, char **output, int flags, int timeout_ms) {
  pid_t pid;
  int fd = -1;
  if (output)
    *output = NULL;
  if (!output && timeout_ms <= 0) {
    int rc = spawn_piped(argv, 0, flags, &pid, &fd);
    if (rc < 0)
      return rc;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return exit_status(status);
  }
  int rc = spawn_piped(argv, 1, output ? flags : flags | PN_RUN_QUIET, &pid, &fd);
  if (rc < 0)
    return rc;
  pn_buf captured;
  pn_buf_init(&captured, CAPTURE_LIMIT);
  rc = drain(pid, fd, timeout_ms, sink_buf, &captured);
  if (output)
    *output = pn_buf_take(&captured);
  pn_buf_free(&captured);
  return rc;
}

typedef struct line_reader {
  pn_buf pending;
  void (*on_line)(const char *line, void *arg);
  void *arg;
} line_reader;

static void sink_lines(const char *bytes, size_t length, void *arg) {
  line_reader *reader = arg;
  for (size_t i = 0; i < length; i++) {
    if (bytes[i] == '\n' || bytes[i] == '\r') {
      if (reader->pending.length)
        reader->on_line(reader->pending.data, reader->arg);
      pn_buf_reset(&reader->pending);
    } else {
      pn_buf_append(&reader->pending, bytes + i, 1);
    }
  }
}

int pn_image_run_lines(const pn_image_argv *argv, void (*on_line)(const char *line, void *arg),
                       void *arg) {
  pid_t pid;
  int fd = -1;
  int rc = spawn_piped(argv, 1, PN_RUN_WITH_STDERR, &pid, &fd);
  if (rc < 0)
    return rc;
  line_reader reader = {.on_line = on_line, .arg = arg};
  pn_buf_init(&reader.pending, 1 << 20);
  rc = drain(pid, fd, 0, sink_lines, &reader);
  if (reader.pending.length)
    on_line(reader.pending.data, arg);
  pn_buf_free(&reader.pending);
  return rc;
}

int pn_image_exec(const pn_image_argv *argv) {
  if (argv->failed || !argv->count)
    return PN_ENOMEM;
  fflush(NULL);
  execvp(argv->items[0], argv->items);
  return PN_ENOENT;
}

/* --- a container to its end (serve --image) --------------------------------------- */

/* The engine's child while it runs, for the signal handler. */
static volatile sig_atomic_t container_pid;
static volatile sig_atomic_t container_signaled; /* a signal was passed on: no second try */

static void pass_signal_on(int signal_number, siginfo_t *info, void *context) {
  (void)context;
  container_signaled = 1;
  /* A terminal's signal (SI_KERNEL) went to the whole foreground group, the engine
   * included; only what a process sent to this one is passed on. */
  if (info->si_code != SI_USER && info->si_code != SI_QUEUE)
    return;
  if (container_pid > 0)
    kill((pid_t)container_pid, signal_number);
}

static const int passed_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
#define PASSED_SIGNALS (sizeof passed_signals / sizeof passed_signals[0])

/* Whether a line of the engine's stderr says that a CNI plugin (podman's "tuning", or
 * another) failed to add the container to its network because the namespace podman
 * had just mounted under /run/netns was not (yet, or any more) a namespace: the
 * plugins' `ns.GetNS` check, racing with another container's setup or teardown on the
 * host. libcni wraps it as `plugin type="NAME" failed (add): ...`. */
static int network_setup_raced(const char *line) {
  return strstr(line, "plugin type=\"") && strstr(line, "failed (add)") &&
         strstr(line, "unknown FS magic on") && strstr(line, "/netns/");
}

typedef struct stderr_relay {
  pn_buf line; /* the line being relayed, for network_setup_raced */
  char *raced; /* the first line that matched (pn_malloc'd), or NULL */
} stderr_relay;

static void relay_bytes(stderr_relay *relay, const char *bytes, size_t length) {
  for (size_t done = 0; done < length;) {
    ssize_t wrote = write(STDERR_FILENO, bytes + done, length - done);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0)
      break;
    done += (size_t)wrote;
  }
  while (length) {
    const char *end = memchr(bytes, '\n', length);
    size_t part = end ? (size_t)(end - bytes) : length;
    pn_buf_append(&relay->line, bytes, part); /* a line past the ceiling is not looked at */
    if (!end)
      break;
    if (!relay->raced && relay->line.data && network_setup_raced(relay->line.data))
      relay->raced = pn_strdup(relay->line.data);
    pn_buf_reset(&relay->line);
    bytes += part + 1;
    length -= part + 1;
  }
}

/* Starts argv with stderr on a pipe whose read end comes back in *read_fd, the passed
 * signals blocked until container_pid is set. */
static int start_container(const pn_image_argv *argv, pid_t *pid, int *read_fd) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0)
    return PN_EIO;
  sigset_t passed, before;
  sigemptyset(&passed);
  for (size_t i = 0; i < PASSED_SIGNALS; i++)
    sigaddset(&passed, passed_signals[i]);
  sigprocmask(SIG_BLOCK, &passed, &before);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setsigmask(&attributes, &before);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  fflush(NULL);
  int rc = posix_spawnp(pid, argv->items[0], &actions, &attributes, argv->items, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(pipe_fds[1]);
  if (rc == 0)
    container_pid = *pid;
  if (rc == 0 && container_signaled) /* between two tries: the second is stopped at once */
    kill(*pid, SIGTERM);
  sigprocmask(SIG_SETMASK, &before, NULL);
  if (rc != 0) {
    close(pipe_fds[0]);
    return PN_ENOENT;
  }
  *read_fd = pipe_fds[0];
  return 0;
}

/* Relays the engine's stderr until it exits (a process the engine leaves behind, such
 * as podman's conmon, may keep the pipe open: the exit, not the pipe's end, decides),
 * then returns its exit status. */
static int relay_until_exit(pid_t pid, int fd, stderr_relay *relay) {
  char chunk[16384];
  int status = 0, exited = 0;
  while (!exited) {
    struct pollfd poll_fd = {fd, POLLIN, 0}; /* fd -1: poll only waits */
    if (poll(&poll_fd, 1, 200) > 0 && fd >= 0) {
      ssize_t got = read(fd, chunk, sizeof chunk);
      if (got > 0)
        relay_bytes(relay, chunk, (size_t)got);
      else if (got == 0 || errno != EINTR) {
        close(fd);
        fd = -1;
      }
    }
    pid_t reaped = waitpid(pid, &status, WNOHANG);
    exited = reaped == pid || (reaped < 0 && errno != EINTR);
  }
  if (fd >= 0) { /* what it wrote last */
    fcntl(fd, F_SETFL, O_NONBLOCK);
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
      relay_bytes(relay, chunk, (size_t)got);
    close(fd);
  }
  container_pid = 0;
  return exit_status(status);
}

int pn_image_run_container(const pn_image_argv *argv) {
  if (argv->failed || !argv->count)
    return PN_ENOMEM;
  struct sigaction pass = {.sa_sigaction = pass_signal_on, .sa_flags = SA_SIGINFO | SA_RESTART};
  sigemptyset(&pass.sa_mask);
  for (size_t i = 0; i < PASSED_SIGNALS; i++)
    sigaction(passed_signals[i], &pass, NULL);
  int rc = 0;
  for (int attempt = 1; attempt <= 2; attempt++) {
    pid_t pid;
    int fd = -1;
    if ((rc = start_container(argv, &pid, &fd)) < 0)
      return rc;
    stderr_relay relay = {.raced = NULL};
    pn_buf_init(&relay.line, 64 * 1024);
    rc = relay_until_exit(pid, fd, &relay);
    if (!relay.raced && relay.line.length && network_setup_raced(relay.line.data))
      relay.raced = pn_strdup(relay.line.data); /* the last line had no newline */
    pn_buf_free(&relay.line);
    char *raced = relay.raced;
    if (rc == 0 || !raced || container_signaled) {
      pn_free(raced);
      return rc;
    }
    if (attempt == 1)
      pn_warn("%s could not set up the container's network (a CNI plugin raced with other "
              "container work on this host: %s); starting it once more",
              argv->items[0], raced);
    else
      pn_error("%s could not set up the container's network twice in a row; it said: %s",
               argv->items[0], raced);
    pn_free(raced);
  }
  return rc;
}

int pn_image_is_loopback_registry(const char *reference) {
  static const char *const hosts[] = {"localhost:", "localhost/", "127.", "[::1]"};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
    if (strncmp(reference, hosts[i], strlen(hosts[i])) == 0)
      return 1;
  return 0;
}

/* Whether `program` is an executable on PATH. */
static int on_path(const char *program) {
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  while (*path) {
    const char *colon = strchr(path, ':');
    size_t length = colon ? (size_t)(colon - path) : strlen(path);
    char *candidate = pn_strfmt("%.*s/%s", (int)length, path, program);
    int found = candidate && access(candidate, X_OK) == 0;
    pn_free(candidate);
    if (found)
      return 1;
    if (!colon)
      break;
    path = colon + 1;
  }
  return 0;
}

/* Whether pinion runs inside a container (docker, podman, or a sandbox that says so),
 * where a nested engine needs the settings described at the top of this file. */
static int nested(void) {
  const char *forced = getenv("PINION_ENGINE_NESTED");
  if (forced)
    return strcmp(forced, "0") != 0;
  return access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0 ||
         getenv("container") != NULL;
}

static char *config_dir(void) {
  const char *xdg = getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg)
    return pn_strfmt("%s/pinion", xdg);
  const char *home = getenv("HOME");
  return pn_strfmt("%s/.config/pinion", home && *home ? home : "/tmp");
}

/* Writes `text` to dir/name unless it is there already; returns the path
 * (pn_malloc'd) or NULL. */
static char *write_setting(const char *dir, const char *name, const char *text) {
  char *path = pn_fs_join(dir, name);
  if (!path)
    return NULL;
  char *existing = NULL;
  size_t length = 0;
  if (pn_fs_read(path, 1 << 20, &existing, &length) == 0 && strcmp(existing, text) == 0) {
    pn_free(existing);
    return path;
  }
  pn_free(existing);
  if (pn_fs_write(path, text, strlen(text)) < 0) {
    pn_free(path);
    return NULL;
  }
  return path;
}

/* Whether this process can mount an overlay file system (root, with the capability,
 * on a file system overlay can sit on): then podman's default overlay driver works
 * and is far faster than vfs, which copies the whole image for every step. */
static int overlay_mounts(void) {
  if (geteuid() != 0)
    return 0;
  char *dir = NULL;
  if (pn_fs_mkdtemp("pinion-overlay", &dir) < 0)
    return 0;
  static const char *const parts[] = {"lower", "upper", "work", "merged"};
  char *paths[4];
  for (int i = 0; i < 4; i++) {
    paths[i] = pn_fs_join(dir, parts[i]);
    if (paths[i])
      mkdir(paths[i], 0700);
  }
  char *options = paths[0] && paths[1] && paths[2]
                      ? pn_strfmt("lowerdir=%s,upperdir=%s,workdir=%s", paths[0], paths[1], paths[2])
                      : NULL;
  int mounted = options && paths[3] && mount("overlay", paths[3], "overlay", 0, options) == 0;
  if (mounted)
    umount(paths[3]);
  pn_free(options);
  for (int i = 0; i < 4; i++)
    pn_free(paths[i]);
  pn_fs_remove_tree(dir);
  pn_free(dir);
  return mounted;
}

/* Applies the nested-machine settings for podman and buildah (see the top). */
static void configure_podman(pn_image_engine *engine) {
  if (!nested())
    return;
  engine->host_network = 1;
  char *dir = config_dir();
  if (!dir)
    return;
  char *parent = pn_strndup(dir, (size_t)(strrchr(dir, '/') - dir));
  if (parent)
    mkdir(parent, 0755);
  pn_free(parent);
  mkdir(dir, 0755);
  pn_buf conf;
  pn_buf_init(&conf, 4096);
  pn_buf_append_str(&conf,
                    "# Written by pinion for a machine that runs containers inside a container.\n"
                    "# See docs/internals/image.md. pinion rewrites this file when it changes.\n"
                    "[containers]\n"
                    "netns = \"host\"\n"
                    "default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n"
                    "[engine]\n"
                    "cgroup_manager = \"cgroupfs\"\n"
                    "events_logger = \"file\"\n");
  if (on_path("runc"))
    pn_buf_append_str(&conf, "runtime = \"runc\"\n");
  if (!getenv("CONTAINERS_CONF")) {
    char *path = conf.data ? write_setting(dir, "containers.conf", conf.data) : NULL;
    if (path)
      setenv("CONTAINERS_CONF", path, 1);
    pn_free(path);
  }
  pn_buf_free(&conf);
  if (!getenv("CONTAINERS_STORAGE_CONF") && !on_path("fuse-overlayfs") && !overlay_mounts()) {
    const char *storage = geteuid() == 0 ? "[storage]\n"
                                           "driver = \"vfs\"\n"
                                           "runroot = \"/run/containers/storage\"\n"
                                           "graphroot = \"/var/lib/containers/storage\"\n"
                                         : "[storage]\ndriver = \"vfs\"\n";
    char *path = write_setting(dir, "storage.conf", storage);
    if (path)
      setenv("CONTAINERS_STORAGE_CONF", path, 1);
    pn_free(path);
  }
  pn_debug("container settings for a nested engine in %s", dir);
  pn_free(dir);
}

/* Whether docker's daemon answers and buildx is there. */
static int docker_usable(int *daemon_down) {
  *daemon_down = 0;
  if (!on_path("docker"))
    return 0;
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, "docker");
  pn_image_argv_add(&argv, "version");
  pn_image_argv_add(&argv, "--format");
  pn_image_argv_add(&argv, "{{.Server.Version}}");
  char *output = NULL;
  int rc = pn_image_run(&argv, &output, PN_RUN_QUIET, 5000);
  pn_image_argv_free(&argv);
  pn_free(output);
  if (rc != 0) {
    *daemon_down = 1;
    return 0;
  }
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, "docker");
  pn_image_argv_add(&argv, "buildx");
  pn_image_argv_add(&argv, "version");
  rc = pn_image_run(&argv, &output, PN_RUN_QUIET, 5000);
  pn_image_argv_free(&argv);
  pn_free(output);
  return rc == 0;
}

static void use(pn_image_engine *engine, enum pn_image_engine_kind kind, const char *name) {
  memset(engine, 0, sizeof *engine);
  engine->kind = kind;
  engine->name = name;
  engine->can_run = kind != PN_ENGINE_BUILDAH;
  if (kind != PN_ENGINE_DOCKER)
    configure_podman(engine);
}

int pn_image_engine_find(const char *name, pn_image_engine *engine, char **error) {
  *error = NULL;
  if (!name || !*name)
    name = getenv("PINION_ENGINE");
  int daemon_down = 0;
  if (name && *name) {
    if (strcmp(name, "docker") == 0) {
      if (docker_usable(&daemon_down)) {
        use(engine, PN_ENGINE_DOCKER, "docker");
        return 0;
      }
      *error = pn_strfmt("docker is not usable: %s; start docker's daemon, install buildx, or "
                         "use --engine podman",
                         !on_path("docker")  ? "it is not installed"
                         : daemon_down       ? "its daemon does not answer"
                                             : "buildx is missing (docker buildx version failed)");
    } else if (strcmp(name, "podman") == 0 || strcmp(name, "buildah") == 0) {
      if (on_path(name)) {
        use(engine, name[0] == 'p' ? PN_ENGINE_PODMAN : PN_ENGINE_BUILDAH, name);
        return 0;
      }
      *error = pn_strfmt("%s is not installed; install it (apt-get install %s runc)", name, name);
    } else {
      *error = pn_strfmt("unknown engine \"%s\": use docker, podman or buildah", name);
    }
    return *error ? PN_ENOENT : PN_ENOMEM;
  }
  if (docker_usable(&daemon_down)) {
    use(engine, PN_ENGINE_DOCKER, "docker");
    return 0;
  }
  if (on_path("podman")) {
    use(engine, PN_ENGINE_PODMAN, "podman");
    return 0;
  }
  if (on_path("buildah")) {
    use(engine, PN_ENGINE_BUILDAH, "buildah");
    return 0;
  }
  *error = pn_strfmt("no container engine is usable: %s and neither podman nor buildah is "
                     "installed; install podman (apt-get install podman runc) or start docker",
                     !on_path("docker") ? "docker is not installed"
                     : daemon_down      ? "docker's daemon does not answer"
                                        : "docker has no buildx");
  return *error ? PN_ENOENT : PN_ENOMEM;
}
