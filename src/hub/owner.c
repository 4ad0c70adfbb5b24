/* This hub's own part of a shared data folder, and the sweep of what dead hubs left
 * there: see owner.h. */
#include "hub/owner.h"

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_SUFFIX ".lock"
#define SOCKET_SUFFIX ".sock"
/* Folders an older pinion left under DATA/instances/ (no owner), swept by name. */
#define LEGACY_NAMES_MAX 256

struct pn_hub_owner {
  char name[96];
  char *scratch;   /* DATA/instances/<name> */
  char *socket;    /* DATA/instances/<name>.sock */
  char *lock_path; /* DATA/instances/<name>.lock */
  int lock_fd;     /* held (flock) while the process lives; close-on-exec */
};

const char *pn_hub_owner_scratch(const pn_hub_owner *owner) { return owner->scratch; }
const char *pn_hub_owner_socket(const pn_hub_owner *owner) { return owner->socket; }
const char *pn_hub_owner_name(const pn_hub_owner *owner) { return owner->name; }

/* Whether `fd` is still the file at `path`: a sweeper may unlink a lock file between
 * another process's open and flock of it. */
static int same_file(int fd, const char *path) {
  struct stat opened, named;
  return fstat(fd, &opened) == 0 && stat(path, &named) == 0 && opened.st_dev == named.st_dev &&
         opened.st_ino == named.st_ino;
}

/* <host>-<pid>-<8 hex>: the host and pid for whoever reads the folder, the random part so
 * that two hosts' pid 1 (containers) never collide. */
static int make_name(char *out, size_t size) {
  char host[64] = "";
  if (gethostname(host, sizeof host - 1) < 0 || !*host)
    snprintf(host, sizeof host, "host");
  for (char *c = host; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
          *c == '.' || *c == '_'))
      *c = '_';
  unsigned char random[4];
  if (pn_crypto_random(random, sizeof random) < 0)
    return PN_EIO;
  snprintf(out, size, "%s-%ld-%02x%02x%02x%02x", host, (long)getpid(), random[0], random[1],
           random[2], random[3]);
  return 0;
}

static void owner_free(pn_hub_owner *owner) {
  if (owner->lock_fd >= 0)
    close(owner->lock_fd);
  pn_free(owner->scratch);
  pn_free(owner->socket);
  pn_free(owner->lock_path);
  pn_free(owner);
}

int pn_hub_owner_claim(const char *data_dir, pn_hub_owner **out, char **error) {
  *out = NULL;
  *error = NULL;
  char *instances = pn_fs_join(data_dir, "instances");
  if (!instances)
    return PN_ENOMEM;
  int rc = PN_EIO;
  for (int attempt = 0; attempt < 8 && rc == PN_EIO && !*error; attempt++) {
    pn_hub_owner *owner = pn_calloc(1, sizeof *owner);
    if (!owner) {
      rc = PN_ENOMEM;
      break;
    }
    owner->lock_fd = -1;
    if (make_name(owner->name, sizeof owner->name) < 0) {
      *error = pn_strdup("the system's random number generator failed");
      owner_free(owner);
      break;
    }
    owner->scratch = pn_fs_join(instances, owner->name);
    owner->socket = pn_strfmt("%s/%s" SOCKET_SUFFIX, instances, owner->name);
    owner->lock_path = pn_strfmt("%s/%s" LOCK_SUFFIX, instances, owner->name);
    if (!owner->scratch || !owner->socket || !owner->lock_path) {
      owner_free(owner);
      rc = PN_ENOMEM;
      break;
    }
    /* The lock first, then the folder: a folder without a lock is never a live owner's. */
    owner->lock_fd = open(owner->lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (owner->lock_fd < 0 && errno == EEXIST) {
      owner_free(owner); /* another process drew the same name: draw again */
      continue;
    }
    if (owner->lock_fd < 0 || flock(owner->lock_fd, LOCK_EX | LOCK_NB) < 0) {
      *error = pn_strfmt("cannot create and lock \"%s\": %s (the data folder's file system "
                         "must support locks: on NFS, version 4, without local_lock)",
                         owner->lock_path, strerror(errno));
      owner_free(owner);
      break;
    }
    if (!same_file(owner->lock_fd, owner->lock_path)) {
      owner_free(owner); /* swept between our open and flock: draw again */
      continue;
    }
    if (mkdir(owner->scratch, 0700) < 0) {
      *error = pn_strfmt("cannot create \"%s\": %s", owner->scratch, strerror(errno));
      unlink(owner->lock_path);
      owner_free(owner);
      break;
    }
    *out = owner;
    rc = 0;
  }
  if (rc == PN_EIO && !*error)
    *error = pn_strfmt("cannot claim a folder of its own in \"%s\"", instances);
  pn_free(instances);
  return *error ? PN_EIO : rc;
}

void pn_hub_owner_release(pn_hub_owner *owner) {
  if (!owner)
    return;
  pn_fs_remove_tree(owner->scratch);
  unlink(owner->socket);
  unlink(owner->lock_path); /* still held: no sweeper removes a part of ours meanwhile */
  owner_free(owner);
}

/* Removes dead owner `name`'s parts if its lock is free: 1 when they went. */
static int sweep_owner(const char *instances, const char *name,
                       pn_hub_kill_strays_fn kill_strays) {
  char *lock_path = pn_strfmt("%s/%s" LOCK_SUFFIX, instances, name);
  char *scratch = pn_fs_join(instances, name);
  char *socket = pn_strfmt("%s/%s" SOCKET_SUFFIX, instances, name);
  int fd = lock_path ? open(lock_path, O_RDWR | O_CLOEXEC) : -1;
  int swept = 0;
  /* Held: its owner lives (or another sweeper has it now). */
  if (fd >= 0 && scratch && socket && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
      same_file(fd, lock_path)) {
    int killed = kill_strays && pn_fs_is_dir(scratch) ? kill_strays(scratch) : 0;
    if (killed > 0)
      pn_warn("hub: killed %d process%s of sandboxes that a previous run left behind", killed,
              killed == 1 ? "" : "es");
    unlink(socket);
    /* The lock goes last, so that a folder is never seen without it while it is there. */
    if (pn_fs_remove_tree(scratch) == 0) {
      unlink(lock_path);
      swept = 1;
    } else {
      pn_warn("hub: could not remove \"%s\", left by a hub that stopped: %s", scratch,
              strerror(errno));
    }
  }
  if (fd >= 0)
    close(fd);
  pn_free(lock_path);
  pn_free(scratch);
  pn_free(socket);
  return swept;
}

static int has_suffix(const char *name, const char *suffix) {
  size_t length = strlen(name), suffix_length = strlen(suffix);
  return length > suffix_length && strcmp(name + length - suffix_length, suffix) == 0;
}

/* Folders an older pinion left: neither an owner's lock, socket nor folder (a folder
 * whose lock is there). Its strays are killed as that pinion's start did. */
static int sweep_legacy(const char *instances, char **names, size_t count,
                        pn_hub_kill_strays_fn kill_strays) {
  int swept = 0;
  /* Its probe folder first: an owner's probe, <owner>/probe, has the same last name,
   * and the kill below matches scratch folders by their last name. */
  for (size_t i = 0; i < count; i++)
    if (strcmp(names[i], "probe") == 0) {
      char *path = pn_fs_join(instances, names[i]);
      if (path)
        pn_fs_remove_tree(path);
      pn_free(path);
    }
  int killed = kill_strays ? kill_strays(instances) : 0;
  if (killed > 0)
    pn_warn("hub: killed %d process%s of sandboxes that a previous run left behind", killed,
            killed == 1 ? "" : "es");
  for (size_t i = 0; i < count; i++) {
    char *path = pn_fs_join(instances, names[i]);
    if (path && pn_fs_remove_tree(path) == 0)
      swept++;
    pn_free(path);
  }
  return swept;
}

int pn_hub_owner_sweep(const char *data_dir, pn_hub_kill_strays_fn kill_strays) {
  char *instances = pn_fs_join(data_dir, "instances");
  DIR *dir = instances ? opendir(instances) : NULL;
  if (!dir) {
    pn_free(instances);
    return instances ? PN_EIO : PN_ENOMEM;
  }
  char *owners[LEGACY_NAMES_MAX], *legacy[LEGACY_NAMES_MAX];
  size_t owner_count = 0, legacy_count = 0;
  struct dirent *item;
  while ((item = readdir(dir))) {
    const char *name = item->d_name;
    if (name[0] == '.' || has_suffix(name, SOCKET_SUFFIX))
      continue;
    if (has_suffix(name, LOCK_SUFFIX)) {
      if (owner_count < LEGACY_NAMES_MAX &&
          (owners[owner_count] = pn_strndup(name, strlen(name) - strlen(LOCK_SUFFIX))))
        owner_count++;
      continue;
    }
    /* A folder with its lock beside it is an owner's, found by its lock above. */
    char *lock_path = pn_strfmt("%s/%s" LOCK_SUFFIX, instances, name);
    struct stat info;
    int owned = lock_path && stat(lock_path, &info) == 0;
    pn_free(lock_path);
    if (!owned && legacy_count < LEGACY_NAMES_MAX && (legacy[legacy_count] = pn_strdup(name)))
      legacy_count++;
  }
  closedir(dir);
  int swept = 0;
  for (size_t i = 0; i < owner_count; i++) {
    swept += sweep_owner(instances, owners[i], kill_strays);
    pn_free(owners[i]);
  }
  if (legacy_count)
    swept += sweep_legacy(instances, legacy, legacy_count, kill_strays);
  for (size_t i = 0; i < legacy_count; i++)
    pn_free(legacy[i]);
  pn_free(instances);
  return swept;
}
