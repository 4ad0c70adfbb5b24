/* The blob store as a folder: see blobs.h. */
#include "hub/blobs.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *pn_hub_blob_path(const char *data_dir, const char *sha256) {
  return pn_strfmt("%s/blobs/%.2s/%s", data_dir, sha256, sha256);
}

int pn_hub_blob_exists(const char *data_dir, const char *sha256) {
  char *path = pn_hub_blob_path(data_dir, sha256);
  int there = path && pn_fs_is_file(path);
  pn_free(path);
  return there;
}

int pn_hub_blob_write(const char *data_dir, const char *sha256, const void *bytes, size_t length) {
  char *dir = pn_strfmt("%s/blobs/%.2s", data_dir, sha256);
  char *path = pn_hub_blob_path(data_dir, sha256);
  int rc = dir && path ? 0 : PN_ENOMEM;
  if (rc == 0)
    mkdir(dir, 0700);
  if (rc == 0 && !pn_fs_is_file(path)) {
    char *staging = pn_strfmt("%s.partial-XXXXXX", path);
    int fd = staging ? mkstemp(staging) : -1;
    rc = !staging ? PN_ENOMEM : fd < 0 ? PN_EIO : 0;
    if (fd >= 0)
      close(fd);
    if (rc == 0)
      rc = pn_fs_write(staging, bytes, length);
    if (rc == 0 && rename(staging, path) < 0)
      rc = PN_EIO;
    if (rc < 0 && fd >= 0)
      unlink(staging);
    pn_free(staging);
  }
  pn_free(dir);
  pn_free(path);
  return rc;
}

int pn_hub_blob_delete_unless(const char *data_dir, const char *sha256,
                              int (*wanted)(void *arg, const void *sha256), void *arg) {
  char *path = pn_hub_blob_path(data_dir, sha256);
  char *aside = path ? pn_strfmt("%s.deleting-XXXXXX", path) : NULL;
  int fd = aside ? mkstemp(aside) : -1;
  if (fd < 0) {
    pn_free(path);
    pn_free(aside);
    return !aside ? PN_ENOMEM : PN_EIO;
  }
  close(fd);
  /* The blob's own modification time would make the set-aside file look like a dead
   * writer's to another replica's pn_hub_blob_sweep_leftovers while the store is asked;
   * it is made now before the blob takes that name. */
  utimensat(AT_FDCWD, path, NULL, 0);
  int rc = 0;
  if (rename(path, aside) < 0) {
    rc = errno == ENOENT ? 0 : PN_EIO; /* not there: nothing to delete */
    unlink(aside);
  } else if (wanted(arg, sha256) != 0) {
    /* Wanted after all (or the store could not say): back. A writer that found it
     * missing meanwhile wrote the same bytes, so replacing its copy changes nothing. */
    rc = rename(aside, path) < 0 ? PN_EIO : 0;
  } else {
    rc = unlink(aside) < 0 && errno != ENOENT ? PN_EIO : 0;
  }
  pn_free(path);
  pn_free(aside);
  return rc;
}

/* Whether `name` is a staging or set-aside name: <sha256>.partial-XXXXXX or
 * <sha256>.deleting-XXXXXX, as the calls above make them. */
static int leftover_name(const char *name) {
  return strlen(name) > 65 && name[64] == '.' &&
         (strncmp(name + 65, "partial-", 8) == 0 || strncmp(name + 65, "deleting-", 9) == 0);
}

/* The leftovers of one folder of blobs (its fd is closed). */
static int sweep_folder(int folder, time_t older_than) {
  DIR *dir = fdopendir(folder);
  if (!dir) {
    close(folder);
    return 0;
  }
  int removed = 0;
  struct dirent *item;
  while ((item = readdir(dir))) {
    struct stat info;
    if (leftover_name(item->d_name) &&
        fstatat(dirfd(dir), item->d_name, &info, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(info.st_mode) && info.st_mtime < older_than &&
        unlinkat(dirfd(dir), item->d_name, 0) == 0)
      removed++;
  }
  closedir(dir);
  return removed;
}

int pn_hub_blob_sweep_leftovers(const char *data_dir, time_t older_than) {
  char *blobs = pn_fs_join(data_dir, "blobs");
  if (!blobs)
    return PN_ENOMEM;
  DIR *dir = opendir(blobs);
  pn_free(blobs);
  if (!dir)
    return errno == ENOENT ? 0 : PN_EIO;
  int removed = 0;
  struct dirent *item;
  while ((item = readdir(dir))) {
    if (strlen(item->d_name) != 2 || item->d_name[0] == '.')
      continue;
    int folder = openat(dirfd(dir), item->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (folder >= 0)
      removed += sweep_folder(folder, older_than);
  }
  closedir(dir);
  return removed;
}
