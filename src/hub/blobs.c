/* The blob store as a folder: see blobs.h. */
#include "hub/blobs.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
