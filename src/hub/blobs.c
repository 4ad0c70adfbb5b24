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

int pn_hub_blob_write(const char *data_dir, const char *sha256, const void *bytes,
                      size_t length) {
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

int pn_hub_blob_delete(const char *data_dir, const char *sha256) {
  char *path = pn_hub_blob_path(data_dir, sha256);
  int rc = !path ? PN_ENOMEM : unlink(path) < 0 && errno != ENOENT ? PN_EIO : 0;
  pn_free(path);
  return rc;
}
