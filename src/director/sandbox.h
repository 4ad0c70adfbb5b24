/* The sandbox a folder version's instance runs in: bubblewrap (`bwrap`) with new user,
 * pid, ipc, uts and network namespaces, an unprivileged uid without capabilities, the system
 * (/usr, a few /etc files) and pinion read-only, the version's bundle read-only at
 * /src, the instance's scratch folder as the only writable host path, and an
 * environment built from nothing. The hub builds the argv here, before it forks; the
 * child only applies the resource limits and execs. See docs/security.md. */
#ifndef PN_DIRECTOR_SANDBOX_H
#define PN_DIRECTOR_SANDBOX_H

/* How the hub runs pushed models (`pinion hub --isolation`). */
enum pn_isolation {
  PN_ISOLATION_BUBBLEWRAP, /* the default: folder versions under bubblewrap, image versions
                              in the container engine's isolation */
  PN_ISOLATION_CONTAINER,  /* image versions only; folder versions are refused */
  PN_ISOLATION_NONE,       /* as the hub's user, with its environment and files */
};

/* "bubblewrap", "container" or "none"; PN_EINVAL for anything else. */
int pn_isolation_parse(const char *text, enum pn_isolation *isolation);

/* Where things are inside the sandbox. */
#define PN_SANDBOX_BUNDLE "/src"
#define PN_SANDBOX_SCRATCH "/run/pinion"
/* The model server's socket, in the scratch folder (`pinion serve --unix-socket`). */
#define PN_SANDBOX_SERVE_SOCKET "/run/pinion/cog.sock"
#define PN_SANDBOX_SERVE_SOCKET_NAME "cog.sock"
/* The hub's internal listener's socket, bound read-only. */
#define PN_SANDBOX_HUB_SOCKET "/run/pinion-hub.sock"
/* The uid and gid the model runs as inside (nobody). */
#define PN_SANDBOX_UID 65534

/* Defaults of the per-instance limits (PINION_SANDBOX_MEMORY_MB, PINION_SANDBOX_PROCESSES). */
#define PN_SANDBOX_MEMORY_MB_DEFAULT 8192
#define PN_SANDBOX_PROCESSES_DEFAULT 512

typedef struct pn_sandbox_options {
  const char *bwrap;  /* the bubblewrap program; NULL: $PINION_BWRAP, else bwrap on PATH */
  /* Outbound network through slirp4netns (director/sandbox_network.h); 0: only the sandbox's
   * own loopback. */
  int network;
  const char *slirp4netns; /* NULL: $PINION_SLIRP4NETNS, else slirp4netns on PATH */
  const char *pinion; /* the pinion binary that runs inside (resolved with realpath) */
  const char *python; /* the models' Python (serve --python), or NULL: python3 on PATH */
  unsigned long long memory_bytes; /* RLIMIT_DATA of everything inside; 0: unlimited */
  unsigned long processes;         /* RLIMIT_NPROC; 0: unlimited */
} pn_sandbox_options;

typedef struct pn_sandbox pn_sandbox;

/* The options from the environment: PINION_SANDBOX_MEMORY_MB (default 8192) and
 * PINION_SANDBOX_PROCESSES (default 512); the strings are left NULL. */
pn_sandbox_options pn_sandbox_options_from_env(void);

/* Resolves what the sandbox binds (the binaries, their folders, the /etc files that
 * exist). Nothing runs yet. *sandbox is freed with pn_sandbox_free; on failure *error
 * (pn_malloc'd, the caller frees it) says what was wrong, and PN_EUNSUPPORTED means
 * slirp4netns is missing (the rest would work without network). */
int pn_sandbox_new(const pn_sandbox_options *options, pn_sandbox **sandbox, char **error);
void pn_sandbox_free(pn_sandbox *sandbox);

/* Runs `pinion --version` in a sandbox over `scratch_dir` (created and removed), waiting
 * at most 10 s. On failure *error (pn_malloc'd) quotes bubblewrap and says how to fix it. */
int pn_sandbox_probe(const pn_sandbox *sandbox, const char *scratch_dir, char **error);

/* The argv that runs `command` (NULL-terminated; paths as seen inside) in a sandbox with
 * `bundle_dir` (or NULL) read-only at PN_SANDBOX_BUNDLE, `scratch_dir` writable at
 * PN_SANDBOX_SCRATCH, its tmp/ as /tmp, and the socket `hub_socket` (or NULL) at
 * PN_SANDBOX_HUB_SOCKET. The sandbox has a network namespace of its own: only its own
 * loopback, unless `network` (for a sandbox made with the network on): then bubblewrap
 * writes the sandbox's pid to PN_SANDBOX_INFO_FD and runs `command` at once, with
 * PN_SANDBOX_BLOCK_FD open: the command must read one byte from it before it runs
 * anything of the model's (`pinion serve --x-wait-fd`), which comes once slirp4netns is
 * attached and the sandbox's routes are in (director/sandbox_network.h); /etc/resolv.conf
 * names slirp4netns's DNS. Creates tmp/, passwd, group (and resolv.conf) in scratch_dir.
 * *argv and its strings are pn_malloc'd: free them with pn_sandbox_argv_free. */
int pn_sandbox_argv(const pn_sandbox *sandbox, const char *bundle_dir, const char *scratch_dir,
                    const char *hub_socket, int network, const char *const *command,
                    char ***argv);
void pn_sandbox_argv_free(char **argv);

/* The fd bubblewrap reads its options from in the child (`--args`), and with the
 * network on, the fd it writes its sandbox's pid to and the one the command waits on. */
#define PN_SANDBOX_OPTIONS_FD 3
#define PN_SANDBOX_INFO_FD 4
#define PN_SANDBOX_BLOCK_FD 5
#define PN_SANDBOX_BLOCK_FD_TEXT "5"

/* Moves the options of an argv from pn_sandbox_argv (everything between the program and
 * "--") into a new close-on-exec memfd, *options_fd, leaving `bwrap --args 3 -- COMMAND`
 * in *argv: bubblewrap's own process stays in the sandbox as pid 1, and its command line
 * would show the model the host paths it binds. The caller closes *options_fd. */
int pn_sandbox_hide_options(char ***argv, int *options_fd);

/* In the child between fork and exec (async-signal-safe: dup2, fcntl and setrlimit):
 * puts `options_fd` at PN_SANDBOX_OPTIONS_FD, open across exec, and sets the resource
 * limits. The caller then closes every fd above PN_SANDBOX_OPTIONS_FD. */
void pn_sandbox_child_setup(const pn_sandbox *sandbox, int options_fd);

/* Kills the processes of sandboxes whose scratch folder is one of the folders in
 * `instances_dir` (a hub killed while bubblewrap was still setting a sandbox up can leave
 * one running without a parent): every process that has one of them mounted at
 * PN_SANDBOX_SCRATCH. Call it before any instance over `instances_dir` starts. Returns
 * how many processes it signalled. */
int pn_sandbox_kill_strays(const char *instances_dir);

/* The pinion binary's path, the same inside and outside (borrowed). */
const char *pn_sandbox_pinion(const pn_sandbox *sandbox);
/* The slirp4netns program sandboxes get their network from (borrowed); NULL when the
 * network is off. */
const char *pn_sandbox_slirp4netns(const pn_sandbox *sandbox);

#endif
