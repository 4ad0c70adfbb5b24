/* libFuzzer target for core/tar.c's unpacker (the hub unpacks every pushed bundle):
 * any bytes, as a tar in any compression libarchive reads, are unpacked into a fresh
 * folder inside a scratch root.
 *
 * Invariants: nothing appears in the root beside the destination folder (no path
 * escapes it), nothing inside it is a symbolic link, and the unpacked content stays
 * within the byte limit. */
#include "core/alloc.h"
#include "core/fs.h"
#include "core/tar.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONTENT_LIMIT ((size_t)1 << 20)

static char *root;
static size_t unpacked_bytes;

static int inspect(const char *path, const struct stat *info, int kind, struct FTW *walk) {
  if (kind == FTW_SL || S_ISLNK(info->st_mode))
    abort();
  if (kind == FTW_F)
    unpacked_bytes += (size_t)info->st_size;
  return 0;
}

/* Whether the root holds exactly one entry, the destination. */
static void check_root(void) {
  DIR *listing = opendir(root);
  if (!listing)
    abort();
  struct dirent *entry;
  while ((entry = readdir(listing)))
    if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..") && strcmp(entry->d_name, "dest"))
      abort();
  closedir(listing);
}

static void remove_root(void) {
  pn_fs_remove_tree(root);
  pn_free(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!root) {
    if (pn_fs_mkdtemp("pinion-fuzz-tar", &root) < 0)
      abort();
    atexit(remove_root);
  }
  char *dest = pn_fs_join(root, "dest");
  if (!dest || mkdir(dest, 0755) < 0)
    abort();
  char *error = NULL;
  static const pn_tar_limits limits = {CONTENT_LIMIT, 10000};
  int rc = pn_tar_unpack(data, size, dest, &limits, &error);
  if (rc < 0 && !error)
    abort();
  check_root();
  unpacked_bytes = 0;
  if (nftw(dest, inspect, 16, FTW_PHYS) != 0 || unpacked_bytes > CONTENT_LIMIT)
    abort();
  pn_free(error);
  pn_fs_remove_tree(dest);
  pn_free(dest);
  return 0;
}
