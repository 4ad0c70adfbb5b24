/* libFuzzer target for core/tar.c's unpackers (the hub unpacks every pushed bundle from
 * memory, a director the bundle it downloaded from a file): any bytes, as a tar in any
 * compression libarchive reads, are unpacked into a fresh folder inside a scratch root,
 * once from memory (pn_tar_unpack) and once from a file holding them (pn_tar_unpack_fd).
 *
 * Invariants, for each: nothing appears in the root beside the destination folder (no
 * path escapes it), nothing inside it is a symbolic link, and the unpacked content stays
 * within the byte limit; and both give the same result and the same error. */
#include "core/alloc.h"
#include "core/fs.h"
#include "core/tar.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Unpacks from memory, or from a file holding `data` when `from_file`, into
 * root/dest and checks the invariants; returns the result, *error its message. */
static int unpack_once(const uint8_t *data, size_t size, int from_file, char **error) {
  char *dest = pn_fs_join(root, "dest");
  if (!dest || mkdir(dest, 0755) < 0)
    abort();
  static const pn_tar_limits limits = {CONTENT_LIMIT, 10000};
  int rc;
  if (from_file) {
    int fd = memfd_create("fuzz-tar", MFD_CLOEXEC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET) != 0)
      abort();
    rc = pn_tar_unpack_fd(fd, dest, &limits, error);
    close(fd);
  } else {
    rc = pn_tar_unpack(data, size, dest, &limits, error);
  }
  if (rc < 0 && !*error)
    abort();
  check_root();
  unpacked_bytes = 0;
  if (nftw(dest, inspect, 16, FTW_PHYS) != 0 || unpacked_bytes > CONTENT_LIMIT)
    abort();
  pn_fs_remove_tree(dest);
  pn_free(dest);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!root) {
    if (pn_fs_mkdtemp("pinion-fuzz-tar", &root) < 0)
      abort();
    atexit(remove_root);
  }
  char *memory_error = NULL, *file_error = NULL;
  int from_memory = unpack_once(data, size, 0, &memory_error);
  int from_file = unpack_once(data, size, 1, &file_error);
  /* One implementation behind both: only how the bytes are read differs. */
  if (from_memory != from_file || !memory_error != !file_error ||
      (memory_error && strcmp(memory_error, file_error) != 0))
    abort();
  pn_free(memory_error);
  pn_free(file_error);
  return 0;
}
