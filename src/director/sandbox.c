/* The bubblewrap sandbox of folder versions: what it binds, the argv that runs a command
 * in it, the probe the hub runs once at start, and the resource limits.
 *
 * Everything a sandbox binds is resolved once, in pn_sandbox_new: the bubblewrap
 * program, the pinion binary and its lib/pinion folder, the Python's prefix when it
 * lives outside /usr (and the venv around it), the /etc files Python and the C library
 * read, the top-level links of a merged /usr (/bin -> usr/bin), and the GPU device
 * nodes. pn_sandbox_argv then only strings them together with the instance's two
 * folders. Nothing here knows the hub's data folder: a path reaches the sandbox only if
 * it is passed in. */
#include "director/sandbox.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_SECONDS 10
#define PROBE_OUTPUT_MAX 2048
#define MAX_BINDS 64

/* /etc entries a model's Python and the C library read; each is bound read-only when
 * it exists. /etc/passwd and /etc/group are written per instance instead (they would
 * name the host's users). */
static const char *const etc_files[] = {
    "/etc/alternatives", "/etc/ca-certificates", "/etc/fonts",       "/etc/gai.conf",
    "/etc/host.conf",    "/etc/hosts",           "/etc/ld.so.cache", "/etc/ld.so.conf",
    "/etc/ld.so.conf.d", "/etc/localtime",       "/etc/mime.types",  "/etc/nsswitch.conf",
    "/etc/protocols",    "/etc/resolv.conf",     "/etc/services",    "/etc/ssl",
    "/etc/timezone",
};

/* Top-level folders that merged-/usr systems make links into /usr. */
static const char *const usr_links[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

/* Settings of pinion and Cog that the operator may set for every model in the hub's
 * environment; nothing else of it reaches a model. */
static const char *const passed_through[] = {
    "COG_LOG_LEVEL",
    "COG_NO_COLOR",
    "COG_SETUP_TIMEOUT",
    "COG_STREAM_HISTORY_CAPACITY",
    "COG_THROTTLE_RESPONSE_INTERVAL",
    "COG_USER_AGENT",
    "CUDA_VISIBLE_DEVICES",
    "NO_COLOR",
    "NVIDIA_VISIBLE_DEVICES",
    "PINION_CANCEL_GRACE",
    "PINION_HTTP_TIMEOUT",
    "PINION_INPUT_FILE_MAX",
    "PINION_LOG_LEVEL",
    "PINION_POLL_US",
    "PINION_WEIGHTS_THRESHOLD",
};

/* The environment every model starts from, as in Cog's images. */
static const char *const base_environment[][2] = {
    {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    {"HOME", "/tmp"},
    {"TMPDIR", "/tmp"},
    {"USER", "nobody"},
    {"LANG", "C.UTF-8"},
    {"PYTHONUNBUFFERED", "1"},
    {"PYTHONDONTWRITEBYTECODE", "1"},
};

typedef struct bind {
  const char *flag; /* --ro-bind, --dev-bind, --symlink (a literal) */
  char *source;
  char *dest;
} bind;

struct pn_sandbox {
  char *bwrap;
  char *slirp4netns; /* NULL: no network */
  char *pinion;
  unsigned long long memory_bytes;
  unsigned long processes;
  bind binds[MAX_BINDS];
  size_t bind_count;
};

/* --- isolation modes ------------------------------------------------------------------ */

static const char *const isolation_names[] = {"bubblewrap", "container", "none"};

int pn_isolation_parse(const char *text, enum pn_isolation *isolation) {
  for (size_t i = 0; i < sizeof isolation_names / sizeof isolation_names[0]; i++) {
    if (text && strcmp(text, isolation_names[i]) == 0) {
      *isolation = (enum pn_isolation)i;
      return 0;
    }
  }
  return PN_EINVAL;
}

pn_sandbox_options pn_sandbox_options_from_env(void) {
  pn_sandbox_options options = {0};
  double megabytes = pn_env_number("PINION_SANDBOX_MEMORY_MB", "MiB (0: unlimited)", 0,
                                   16.0 * 1024 * 1024, PN_SANDBOX_MEMORY_MB_DEFAULT);
  options.memory_bytes = (unsigned long long)megabytes * 1024ull * 1024ull;
  options.processes = (unsigned long)pn_env_number(
      "PINION_SANDBOX_PROCESSES", "processes (0: unlimited)", 0, 1e6, PN_SANDBOX_PROCESSES_DEFAULT);
  return options;
}

/* --- resolving what to bind ----------------------------------------------------------- */

static int add_bind(pn_sandbox *sandbox, const char *flag, const char *source, const char *dest) {
  for (size_t i = 0; i < sandbox->bind_count; i++)
    if (strcmp(sandbox->binds[i].dest, dest) == 0)
      return 0; /* already there (a venv inside the Python's prefix, say) */
  if (sandbox->bind_count == MAX_BINDS)
    return PN_ETOOBIG;
  bind *entry = &sandbox->binds[sandbox->bind_count];
  entry->flag = flag;
  entry->source = pn_strdup(source);
  entry->dest = pn_strdup(dest);
  sandbox->bind_count++;
  return entry->source && entry->dest ? 0 : PN_ENOMEM;
}

/* `path` without its last `levels` components ("/a/b/c", 2 -> "/a"), pn_malloc'd. */
static char *parent_of(const char *path, int levels) {
  char *copy = pn_strdup(path);
  for (int i = 0; copy && i < levels; i++) {
    char *slash = strrchr(copy, '/');
    if (!slash)
      break;
    *slash = '\0';
  }
  return copy;
}

static int under_usr(const char *path) { return strncmp(path, "/usr/", 5) == 0; }

/* A program name searched on PATH, as execvp would, pn_malloc'd; NULL when not found. */
static char *find_program(const char *name) {
  if (strchr(name, '/'))
    return access(name, X_OK) == 0 ? pn_strdup(name) : NULL;
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t length = strcspn(path, ":");
    char *candidate = pn_strfmt("%.*s/%s", (int)length, path, name);
    if (candidate && access(candidate, X_OK) == 0)
      return candidate;
    pn_free(candidate);
    path += length;
    if (*path == ':')
      path++;
  }
  return NULL;
}

/* The binary and, beside it, ../lib/pinion (the worker and the cog package). */
static int bind_pinion(pn_sandbox *sandbox, const char *pinion, char **error) {
  char resolved[PATH_MAX];
  if (!realpath(pinion, resolved)) {
    *error = pn_strfmt("cannot find the pinion binary \"%s\": %s", pinion, strerror(errno));
    return PN_ENOENT;
  }
  sandbox->pinion = pn_strdup(resolved);
  int rc = sandbox->pinion ? add_bind(sandbox, "--ro-bind", resolved, resolved) : PN_ENOMEM;
  char *bin_dir = parent_of(resolved, 1);
  char *lib_dir = bin_dir ? pn_strfmt("%s/../lib/pinion", bin_dir) : NULL;
  /* Where the binary will look (<prefix>/lib/pinion), which may be a link to the real
   * folder (the sanitizer build's lib -> ../lib): links outside the binds do not
   * resolve inside, so the folder is bound there too. */
  char *prefix = bin_dir ? parent_of(bin_dir, 1) : NULL;
  char *looked_up = prefix ? pn_strfmt("%s/lib/pinion", prefix) : NULL;
  char lib_resolved[PATH_MAX];
  if (rc == 0 && lib_dir && looked_up && realpath(lib_dir, lib_resolved)) {
    rc = add_bind(sandbox, "--ro-bind", lib_resolved, lib_resolved);
    if (rc == 0 && strcmp(looked_up, lib_resolved) != 0)
      rc = add_bind(sandbox, "--ro-bind", lib_resolved, looked_up);
  } else if (rc == 0 && (!lib_dir || !looked_up)) {
    rc = PN_ENOMEM;
  }
  pn_free(looked_up);
  pn_free(prefix);
  pn_free(lib_dir);
  pn_free(bin_dir);
  return rc;
}

/* A Python outside /usr: its installation prefix (where the real interpreter is), and
 * a venv around the path given when there is one. */
static int bind_python(pn_sandbox *sandbox, const char *python, char **error) {
  if (!strchr(python, '/'))
    return 0; /* a name: found on the sandbox's PATH, under /usr */
  char resolved[PATH_MAX];
  if (python[0] != '/' || !realpath(python, resolved)) {
    *error = pn_strfmt("the models' Python \"%s\" must be an absolute path to an existing "
                       "interpreter (it is bound read-only into the sandbox)",
                       python);
    return PN_EINVAL;
  }
  int rc = 0;
  const char *paths[] = {resolved, python};
  for (size_t i = 0; i < 2 && rc == 0; i++) {
    if (under_usr(paths[i]))
      continue;
    char *prefix = parent_of(paths[i], 2); /* PREFIX/bin/python3 */
    if (!prefix)
      return PN_ENOMEM;
    if (!*prefix || strcmp(prefix, "/") == 0) {
      *error = pn_strfmt("the models' Python \"%s\" lives directly under / : install it in a "
                         "prefix of its own (the sandbox binds that prefix read-only)",
                         python);
      rc = PN_EINVAL;
    } else {
      rc = add_bind(sandbox, "--ro-bind", prefix, prefix);
    }
    pn_free(prefix);
  }
  return rc;
}

static int bind_system(pn_sandbox *sandbox) {
  int rc = add_bind(sandbox, "--ro-bind", "/usr", "/usr");
  for (size_t i = 0; rc == 0 && i < sizeof usr_links / sizeof usr_links[0]; i++) {
    char target[PATH_MAX];
    ssize_t length = readlink(usr_links[i], target, sizeof target - 1);
    if (length > 0) {
      target[length] = '\0';
      rc = add_bind(sandbox, "--symlink", target, usr_links[i]);
    } else if (pn_fs_is_dir(usr_links[i])) {
      rc = add_bind(sandbox, "--ro-bind", usr_links[i], usr_links[i]);
    }
  }
  for (size_t i = 0; rc == 0 && i < sizeof etc_files / sizeof etc_files[0]; i++)
    if (access(etc_files[i], F_OK) == 0)
      rc = add_bind(sandbox, "--ro-bind", etc_files[i], etc_files[i]);
  /* Debian's Python reads /etc/python3.X (sitecustomize). */
  DIR *etc = opendir("/etc");
  struct dirent *item;
  while (rc == 0 && etc && (item = readdir(etc))) {
    if (strncmp(item->d_name, "python", 6) != 0)
      continue;
    char *path = pn_fs_join("/etc", item->d_name);
    rc = path ? add_bind(sandbox, "--ro-bind", path, path) : PN_ENOMEM;
    pn_free(path);
  }
  if (etc)
    closedir(etc);
  /* NVIDIA's device nodes, so that a GPU hub's models see its GPUs, and the parts of
   * /sys that CUDA reads the devices' topology from (read-only, as in a container). */
  DIR *dev = opendir("/dev");
  int gpus = 0;
  while (rc == 0 && dev && (item = readdir(dev))) {
    if (strncmp(item->d_name, "nvidia", 6) != 0)
      continue;
    char *path = pn_fs_join("/dev", item->d_name);
    rc = path ? add_bind(sandbox, "--dev-bind", path, path) : PN_ENOMEM;
    pn_free(path);
    gpus++;
  }
  if (dev)
    closedir(dev);
  static const char *const gpu_sys[] = {"/sys/bus", "/sys/class", "/sys/dev", "/sys/devices"};
  for (size_t i = 0; rc == 0 && gpus && i < sizeof gpu_sys / sizeof gpu_sys[0]; i++)
    if (pn_fs_is_dir(gpu_sys[i]))
      rc = add_bind(sandbox, "--ro-bind", gpu_sys[i], gpu_sys[i]);
  return rc;
}

int pn_sandbox_new(const pn_sandbox_options *options, pn_sandbox **out, char **error) {
  *out = NULL;
  *error = NULL;
  pn_sandbox *sandbox = pn_calloc(1, sizeof *sandbox);
  if (!sandbox)
    return PN_ENOMEM;
  sandbox->memory_bytes = options->memory_bytes;
  sandbox->processes = options->processes;
  const char *bwrap = options->bwrap ? options->bwrap : getenv("PINION_BWRAP");
  if (!bwrap || !*bwrap)
    bwrap = "bwrap";
  int rc = 0;
  sandbox->bwrap = find_program(bwrap);
  if (!sandbox->bwrap) {
    *error = pn_strfmt("bubblewrap (\"%s\") was not found%s", bwrap,
                       strchr(bwrap, '/') ? "" : " on PATH");
    rc = PN_ENOENT;
  }
  if (rc == 0 && options->network) {
    const char *slirp = options->slirp4netns ? options->slirp4netns : getenv("PINION_SLIRP4NETNS");
    if (!slirp || !*slirp)
      slirp = "slirp4netns";
    sandbox->slirp4netns = find_program(slirp);
    if (!sandbox->slirp4netns) {
      *error = pn_strfmt("slirp4netns (\"%s\"), which gives sandboxed models their network, was "
                         "not found%s: install it (Debian: apt-get install slirp4netns), or run "
                         "models without network (--instance-network off)",
                         slirp, strchr(slirp, '/') ? "" : " on PATH");
      rc = PN_EUNSUPPORTED;
    }
  }
  if (rc == 0)
    rc = bind_system(sandbox);
  if (rc == 0)
    rc = bind_pinion(sandbox, options->pinion ? options->pinion : "/proc/self/exe", error);
  if (rc == 0 && options->python && *options->python)
    rc = bind_python(sandbox, options->python, error);
  if (rc < 0) {
    if (!*error)
      *error = pn_strfmt("cannot prepare the sandbox: %s", pn_strerror(rc));
    pn_sandbox_free(sandbox);
    return rc;
  }
  *out = sandbox;
  return 0;
}

void pn_sandbox_free(pn_sandbox *sandbox) {
  if (!sandbox)
    return;
  for (size_t i = 0; i < sandbox->bind_count; i++) {
    pn_free(sandbox->binds[i].source);
    pn_free(sandbox->binds[i].dest);
  }
  pn_free(sandbox->bwrap);
  pn_free(sandbox->slirp4netns);
  pn_free(sandbox->pinion);
  pn_free(sandbox);
}

const char *pn_sandbox_pinion(const pn_sandbox *sandbox) { return sandbox->pinion; }

const char *pn_sandbox_slirp4netns(const pn_sandbox *sandbox) { return sandbox->slirp4netns; }

/* --- the argv ------------------------------------------------------------------------- */

typedef struct argv_builder {
  char **items;
  size_t count;
  size_t capacity;
  int failed;
} argv_builder;

static void push(argv_builder *builder, const char *text) {
  if (builder->failed)
    return;
  if (builder->count + 2 > builder->capacity) {
    size_t capacity = builder->capacity ? builder->capacity * 2 : 64;
    char **grown = pn_realloc(builder->items, capacity * sizeof *grown);
    if (!grown) {
      builder->failed = 1;
      return;
    }
    builder->items = grown;
    builder->capacity = capacity;
  }
  char *copy = pn_strdup(text);
  if (!copy) {
    builder->failed = 1;
    return;
  }
  builder->items[builder->count++] = copy;
  builder->items[builder->count] = NULL;
}

static void push3(argv_builder *builder, const char *flag, const char *a, const char *b) {
  push(builder, flag);
  push(builder, a);
  push(builder, b);
}

/* slirp4netns's DNS forwarder, where the sandbox's names are resolved: the host's own
 * resolv.conf may name a resolver on the host's loopback, which the sandbox cannot
 * reach. */
static const char slirp_resolv_conf[] = "nameserver 10.0.2.3\n";

/* The instance's passwd and group name only root and nobody, and its tmp/ is the
 * sandbox's /tmp. */
static int prepare_scratch(const char *scratch_dir, int network) {
  static const char passwd[] = "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                               "nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n";
  static const char group[] = "root:x:0:\nnogroup:x:65534:\n";
  char *tmp = pn_fs_join(scratch_dir, "tmp");
  char *passwd_path = pn_fs_join(scratch_dir, "passwd");
  char *group_path = pn_fs_join(scratch_dir, "group");
  int rc = tmp && passwd_path && group_path ? 0 : PN_ENOMEM;
  if (rc == 0 && mkdir(tmp, 0700) < 0 && errno != EEXIST)
    rc = PN_EIO;
  if (rc == 0)
    rc = pn_fs_write(passwd_path, passwd, sizeof passwd - 1);
  if (rc == 0)
    rc = pn_fs_write(group_path, group, sizeof group - 1);
  char *resolv_path = network ? pn_fs_join(scratch_dir, "resolv.conf") : NULL;
  if (rc == 0 && network)
    rc = resolv_path ? pn_fs_write(resolv_path, slirp_resolv_conf, sizeof slirp_resolv_conf - 1)
                     : PN_ENOMEM;
  pn_free(resolv_path);
  pn_free(tmp);
  pn_free(passwd_path);
  pn_free(group_path);
  return rc;
}

int pn_sandbox_argv(const pn_sandbox *sandbox, const char *bundle_dir, const char *scratch_dir,
                    const char *hub_socket, int network, const char *const *command,
                    char ***argv) {
  *argv = NULL;
  network = network && sandbox->slirp4netns;
  int rc = prepare_scratch(scratch_dir, network);
  if (rc < 0)
    return rc;
  argv_builder builder = {0};
  push(&builder, sandbox->bwrap);
  static const char *const isolation[] = {
      "--unshare-user",    "--unshare-pid", "--unshare-ipc",
      "--unshare-uts",     "--unshare-net", "--unshare-cgroup-try",
      "--die-with-parent", "--hostname",    "pinion",
      "--cap-drop",        "ALL",
  };
  for (size_t i = 0; i < sizeof isolation / sizeof isolation[0]; i++)
    push(&builder, isolation[i]);
  /* Not --block-fd: bubblewrap would wait for the network before it execs, and the
   * command (`pinion serve --x-wait-fd`) waits instead, so that its own start overlaps
   * slirp4netns's. The block pipe's end at PN_SANDBOX_BLOCK_FD is inherited. */
  char fd_text[16];
  if (network) {
    snprintf(fd_text, sizeof fd_text, "%d", PN_SANDBOX_INFO_FD);
    push(&builder, "--info-fd");
    push(&builder, fd_text);
  }
  char id[16];
  snprintf(id, sizeof id, "%d", PN_SANDBOX_UID);
  push(&builder, "--uid");
  push(&builder, id);
  push(&builder, "--gid");
  push(&builder, id);
  /* bubblewrap mounts in order: the fresh /proc and /dev first, so that the GPU's
   * device nodes bound into /dev below are not hidden under the new /dev. */
  push(&builder, "--proc");
  push(&builder, "/proc");
  push(&builder, "--dev");
  push(&builder, "/dev");
  for (size_t i = 0; i < sandbox->bind_count; i++)
    push3(&builder, sandbox->binds[i].flag, sandbox->binds[i].source, sandbox->binds[i].dest);
  char *passwd = pn_fs_join(scratch_dir, "passwd");
  char *group = pn_fs_join(scratch_dir, "group");
  char *tmp = pn_fs_join(scratch_dir, "tmp");
  if (!passwd || !group || !tmp)
    builder.failed = 1;
  else {
    push3(&builder, "--ro-bind", passwd, "/etc/passwd");
    push3(&builder, "--ro-bind", group, "/etc/group");
    push3(&builder, "--bind", scratch_dir, PN_SANDBOX_SCRATCH);
    push3(&builder, "--bind", tmp, "/tmp");
  }
  pn_free(passwd);
  pn_free(group);
  pn_free(tmp);
  if (bundle_dir)
    push3(&builder, "--ro-bind", bundle_dir, PN_SANDBOX_BUNDLE);
  /* A socket on a read-only mount still takes connections. */
  if (hub_socket)
    push3(&builder, "--ro-bind", hub_socket, PN_SANDBOX_HUB_SOCKET);
  char *resolv = network ? pn_fs_join(scratch_dir, "resolv.conf") : NULL;
  if (network && !resolv)
    builder.failed = 1;
  else if (network) /* over the host's, bound above */
    push3(&builder, "--ro-bind", resolv, "/etc/resolv.conf");
  pn_free(resolv);
  push(&builder, "--chdir");
  push(&builder, bundle_dir ? PN_SANDBOX_BUNDLE : "/tmp");
  push(&builder, "--clearenv");
  for (size_t i = 0; i < sizeof base_environment / sizeof base_environment[0]; i++)
    push3(&builder, "--setenv", base_environment[i][0], base_environment[i][1]);
  for (size_t i = 0; i < sizeof passed_through / sizeof passed_through[0]; i++) {
    const char *value = getenv(passed_through[i]);
    if (value)
      push3(&builder, "--setenv", passed_through[i], value);
  }
  push(&builder, "--");
  for (size_t i = 0; command[i]; i++)
    push(&builder, command[i]);
  if (builder.failed) {
    if (builder.items)
      builder.items[builder.count] = NULL;
    pn_sandbox_argv_free(builder.items);
    return PN_ENOMEM;
  }
  *argv = builder.items;
  return 0;
}

void pn_sandbox_argv_free(char **argv) {
  if (!argv)
    return;
  for (size_t i = 0; argv[i]; i++)
    pn_free(argv[i]);
  pn_free(argv);
}

static int write_all(int fd, const char *bytes, size_t length) {
  while (length) {
    ssize_t wrote = write(fd, bytes, length);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0)
      return PN_EIO;
    bytes += wrote;
    length -= (size_t)wrote;
  }
  return 0;
}

int pn_sandbox_hide_options(char ***argv, int *options_fd) {
  *options_fd = -1;
  char **full = *argv;
  size_t separator = 1;
  while (full[separator] && strcmp(full[separator], "--") != 0)
    separator++;
  if (!full[separator])
    return PN_EINVAL;
  int fd = memfd_create("pinion-sandbox-options", MFD_CLOEXEC);
  if (fd < 0)
    return PN_EIO;
  int rc = 0;
  for (size_t i = 1; rc == 0 && i < separator; i++)
    rc = write_all(fd, full[i], strlen(full[i]) + 1); /* NUL-separated */
  if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
    rc = PN_EIO;
  size_t count = separator;
  while (full[count])
    count++;
  char **hidden = rc == 0 ? pn_calloc(count - separator + 4, sizeof *hidden) : NULL;
  if (rc == 0 && !hidden)
    rc = PN_ENOMEM;
  if (rc < 0) {
    close(fd);
    return rc;
  }
  char fd_text[16];
  snprintf(fd_text, sizeof fd_text, "%d", PN_SANDBOX_OPTIONS_FD);
  hidden[0] = full[0];
  hidden[1] = pn_strdup("--args");
  hidden[2] = pn_strdup(fd_text);
  for (size_t i = separator; i < count; i++)
    hidden[3 + i - separator] = full[i];
  if (!hidden[1] || !hidden[2]) {
    pn_free(hidden[1]);
    pn_free(hidden[2]);
    pn_free(hidden);
    close(fd);
    return PN_ENOMEM;
  }
  for (size_t i = 1; i < separator; i++)
    pn_free(full[i]);
  pn_free(full);
  *argv = hidden;
  *options_fd = fd;
  return 0;
}

static void apply_limits(const pn_sandbox *sandbox) {
  if (sandbox->memory_bytes) {
    struct rlimit limit = {(rlim_t)sandbox->memory_bytes, (rlim_t)sandbox->memory_bytes};
    setrlimit(RLIMIT_DATA, &limit);
  }
  if (sandbox->processes) {
    struct rlimit limit = {(rlim_t)sandbox->processes, (rlim_t)sandbox->processes};
    setrlimit(RLIMIT_NPROC, &limit);
  }
}

void pn_sandbox_child_setup(const pn_sandbox *sandbox, int options_fd) {
  if (options_fd == PN_SANDBOX_OPTIONS_FD)
    fcntl(options_fd, F_SETFD, 0);
  else
    dup2(options_fd, PN_SANDBOX_OPTIONS_FD); /* the copy is open across exec */
  apply_limits(sandbox);
}

/* --- strays --------------------------------------------------------------------------- */

#define MOUNTINFO_MAX ((size_t)4 << 20)

/* Whether one of a process's mounts is a scratch folder named in `names` at
 * PN_SANDBOX_SCRATCH. mountinfo's fifth field is the mount point and its fourth the
 * folder mounted, relative to its filesystem (" //deleted" follows a removed one). */
static int mounts_a_scratch(const char *mountinfo, char **names, size_t name_count) {
  for (const char *line = mountinfo; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t length = end ? (size_t)(end - line) : strlen(line);
    char root[PATH_MAX], point[PATH_MAX];
    if (length < sizeof root && sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) == 2 &&
        strcmp(point, PN_SANDBOX_SCRATCH) == 0) {
      char *deleted = strstr(root, "//deleted");
      if (deleted)
        *deleted = '\0';
      const char *last = strrchr(root, '/');
      for (size_t i = 0; last && i < name_count; i++)
        if (strcmp(last + 1, names[i]) == 0)
          return 1;
    }
    line = end ? end + 1 : NULL;
  }
  return 0;
}

int pn_sandbox_kill_strays(const char *instances_dir) {
  DIR *dir = opendir(instances_dir);
  if (!dir)
    return 0;
  char *names[256];
  size_t name_count = 0;
  struct dirent *item;
  while (name_count < sizeof names / sizeof names[0] && (item = readdir(dir)))
    if (item->d_name[0] != '.' && (names[name_count] = pn_strdup(item->d_name)))
      name_count++;
  closedir(dir);
  /* Every process is found before any is killed: killing a sandbox's init takes the
   * rest of its pid namespace down at once, and those would then be missed (and the
   * count would depend on the order of /proc). */
  pid_t found[1024];
  size_t found_count = 0;
  DIR *proc = name_count ? opendir("/proc") : NULL;
  while (proc && found_count < sizeof found / sizeof found[0] && (item = readdir(proc))) {
    char *end = NULL;
    long pid = strtol(item->d_name, &end, 10);
    if (pid <= 1 || *end || pid == (long)getpid())
      continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/mountinfo", pid);
    char *mountinfo = NULL;
    if (pn_fs_read(path, MOUNTINFO_MAX, &mountinfo, NULL) == 0 &&
        mounts_a_scratch(mountinfo, names, name_count))
      found[found_count++] = (pid_t)pid;
    pn_free(mountinfo);
  }
  if (proc)
    closedir(proc);
  int killed = 0;
  for (size_t i = 0; i < found_count; i++)
    if (kill(found[i], SIGKILL) == 0 || errno == ESRCH) /* ESRCH: gone with its init */
      killed++;
  for (size_t i = 0; i < name_count; i++)
    pn_free(names[i]);
  return killed;
}

/* --- the probe ------------------------------------------------------------------------ */

/* Reads what the child writes to `fd` until it closes it or the deadline passes. */
static void read_output(int fd, char *out, size_t capacity, uint64_t deadline_ns) {
  size_t used = 0;
  for (;;) {
    uint64_t now = pn_clock_monotonic_ns();
    if (now >= deadline_ns)
      break;
    struct pollfd poll_fd = {fd, POLLIN, 0};
    int ready = poll(&poll_fd, 1, (int)((deadline_ns - now) / 1000000) + 1);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      break;
    char chunk[512];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    size_t take = (size_t)got < capacity - 1 - used ? (size_t)got : capacity - 1 - used;
    memcpy(out + used, chunk, take);
    used += take;
  }
  out[used] = '\0';
  while (used && (out[used - 1] == '\n' || out[used - 1] == ' '))
    out[--used] = '\0';
}

int pn_sandbox_probe(const pn_sandbox *sandbox, const char *scratch_dir, char **error) {
  *error = NULL;
  const char *command[] = {sandbox->pinion, "--version", NULL};
  char **argv = NULL;
  if (mkdir(scratch_dir, 0700) < 0 && errno != EEXIST) {
    *error = pn_strfmt("cannot create \"%s\": %s", scratch_dir, strerror(errno));
    return PN_EIO;
  }
  int rc = pn_sandbox_argv(sandbox, NULL, scratch_dir, NULL, 0, command, &argv);
  int options_fd = -1;
  if (rc == 0)
    rc = pn_sandbox_hide_options(&argv, &options_fd);
  int pipe_fds[2] = {-1, -1};
  if (rc == 0 && pipe2(pipe_fds, O_CLOEXEC) < 0)
    rc = PN_EIO;
  pid_t pid = -1;
  if (rc == 0) {
    pid = fork();
    if (pid == 0) {
      dup2(pipe_fds[1], 1);
      dup2(pipe_fds[1], 2);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      pn_sandbox_child_setup(sandbox, options_fd);
      syscall(SYS_close_range, PN_SANDBOX_OPTIONS_FD + 1u, ~0u, 0u);
      static char *const no_environment[] = {NULL};
      execve(argv[0], argv, no_environment);
      static const char failed[] = "could not run it: ";
      ssize_t ignored = write(2, failed, sizeof failed - 1);
      const char *reason = strerror(errno);
      ignored = write(2, reason, strlen(reason));
      (void)ignored;
      _exit(127);
    }
    if (pid < 0)
      rc = PN_ECHILD;
  }
  char output[PROBE_OUTPUT_MAX];
  output[0] = '\0';
  int status = 0, finished = 0;
  if (pid > 0) {
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    uint64_t deadline = pn_clock_monotonic_ns() + (uint64_t)PROBE_SECONDS * 1000000000ull;
    read_output(pipe_fds[0], output, sizeof output, deadline);
    for (;;) {
      pid_t got = waitpid(pid, &status, WNOHANG);
      if (got == pid) {
        finished = 1;
        break;
      }
      if (got < 0 && errno != EINTR)
        break;
      if (pn_clock_monotonic_ns() >= deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(output, sizeof output, "it did not finish within %d s", PROBE_SECONDS);
        break;
      }
      struct timespec pause = {0, 5 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
  }
  for (int i = 0; i < 2; i++)
    if (pipe_fds[i] >= 0)
      close(pipe_fds[i]);
  if (options_fd >= 0)
    close(options_fd);
  pn_sandbox_argv_free(argv);
  pn_fs_remove_tree(scratch_dir);
  if (rc == 0 && finished && WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  *error = pn_strfmt("bubblewrap (%s) cannot run models: %s", sandbox->bwrap,
                     rc < 0    ? pn_strerror(rc)
                     : *output ? output
                               : "it failed without a word");
  return rc < 0 ? rc : PN_ECHILD;
}
