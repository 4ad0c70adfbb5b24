/* Container engines: finding one that works (docker with buildx when its daemon
 * answers, else podman, else buildah), the settings a machine needs (runc, vfs
 * storage, ulimits, host networking inside containers), written to a pinion-owned
 * containers.conf rather than asked of the user, and running the engine as a child
 * process with an argument vector. Nothing here goes through a shell. */
#ifndef PN_IMAGE_ENGINE_H
#define PN_IMAGE_ENGINE_H

#include <stddef.h>

enum pn_image_engine_kind { PN_ENGINE_DOCKER, PN_ENGINE_PODMAN, PN_ENGINE_BUILDAH };

typedef struct pn_image_engine {
  enum pn_image_engine_kind kind;
  const char *name;  /* "docker", "podman", "buildah" */
  int host_network;  /* containers share the host's network: publish by PORT, not -p */
  int can_run;       /* buildah builds and pushes but cannot run a server */
} pn_image_engine;

/* Finds the engine: `name` ("docker", "podman", "buildah") or NULL to pick the first
 * usable one, then $PINION_ENGINE. Fills *engine. On failure returns PN_ENOENT and sets
 * *error to a pn_malloc'd message (what is missing and how to fix it); the caller
 * frees it. */
int pn_image_engine_find(const char *name, pn_image_engine *engine, char **error);

/* A growable argument vector; strings are copied and owned by it. */
typedef struct pn_image_argv {
  char **items; /* NULL-terminated */
  size_t count;
  size_t capacity;
  int failed; /* set when an allocation failed; pn_image_run refuses such a vector */
} pn_image_argv;

void pn_image_argv_init(pn_image_argv *argv);
void pn_image_argv_add(pn_image_argv *argv, const char *item);
void pn_image_argv_addf(pn_image_argv *argv, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void pn_image_argv_free(pn_image_argv *argv);

enum {
  PN_RUN_QUIET = 1,      /* the child's stderr goes to /dev/null */
  PN_RUN_WITH_STDERR = 2 /* the captured output holds stderr too */
};

/* Runs argv (argv->items[0] is looked up on PATH) and waits. stdin is /dev/null. With
 * `output`, stdout is captured into a pn_malloc'd string (the caller frees it) and
 * stderr inherited (see the flags); else both inherited. `timeout_ms` > 0 kills the
 * child when it runs longer. Returns the exit status (0-255, 128+signal), or a
 * negative PN_E* when it could not start. */
int pn_image_run(const pn_image_argv *argv, char **output, int flags, int timeout_ms);

/* Like pn_image_run, handing each line of the child's stdout and stderr (together)
 * to `on_line`. */
int pn_image_run_lines(const pn_image_argv *argv, void (*on_line)(const char *line, void *arg),
                       void *arg);

/* Replaces the process with argv (for `predict --image` and `exec`): signals and the
 * terminal then belong to the engine. Returns only on failure, with a PN_E* code. */
int pn_image_exec(const pn_image_argv *argv);

/* Runs a container to its end (for `serve --image`): argv, an engine's `run`, as a
 * child with stdin and stdout inherited and stderr relayed as it comes; SIGTERM,
 * SIGINT, SIGHUP and SIGQUIT sent to this process by another one are passed on (a
 * terminal's Ctrl-C reaches the engine by itself). When the engine failed because a
 * CNI plugin found no network namespace where podman had just made one ("unknown FS
 * magic on .../netns/...", a race with other engine work on the host), it is run once
 * more, with a warning that says so. Returns the engine's exit status (0-255,
 * 128+signal), or a negative PN_E* when it could not start. */
int pn_image_run_container(const pn_image_argv *argv);

/* Whether an image reference names a registry on this machine (localhost,
 * 127.0.0.0/8, [::1]), which engines reach over plain HTTP, as docker does. */
int pn_image_is_loopback_registry(const char *reference);

#endif
