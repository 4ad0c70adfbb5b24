/* File-system helpers. See fs.h. */
#include "core/fs.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pn_fs_read(const char *path, size_t limit, char **data, size_t *length) {
  *data = NULL;
  if (length)
    *length = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? PN_ENOENT : PN_EIO;
  struct stat info;
  if (fstat(fd, &info) < 0 || S_ISDIR(info.st_mode)) {
    close(fd);
    return PN_EIO;
  }
  size_t capacity = info.st_size > 0 ? (size_t)info.st_size + 1 : 4096;
  if (capacity > limit + 1)
    capacity = limit + 1;
  char *buffer = pn_malloc(capacity);
  if (!buffer) {
    close(fd);
    return PN_ENOMEM;
  }
  size_t used = 0;
  for (;;) {
    if (used + 1 >= capacity) {
      if (used >= limit) {
        pn_free(buffer);
        close(fd);
        return PN_ETOOBIG;
      }
      size_t grown = capacity * 2 > limit + 1 ? limit + 1 : capacity * 2;
      char *bigger = pn_realloc(buffer, grown);
      if (!bigger) {
        pn_free(buffer);
        close(fd);
        return PN_ENOMEM;
      }
      buffer = bigger;
      capacity = grown;
    }
    ssize_t got = read(fd, buffer + used, capacity - used - 1);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      pn_free(buffer);
      close(fd);
      return PN_EIO;
    }
    if (got == 0)
      break;
    used += (size_t)got;
    if (used > limit) {
      pn_free(buffer);
      close(fd);
      return PN_ETOOBIG;
    }
  }
  close(fd);
  buffer[used] = '\0';
  *data = buffer;
  if (length)
    *length = used;
  return 0;
}

int pn_fs_write(const char *path, const void *data, size_t length) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno == ENOENT ? PN_ENOENT : PN_EIO;
  const char *bytes = data;
  while (length > 0) {
    ssize_t wrote = write(fd, bytes, length);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote < 0) {
      close(fd);
      return PN_EIO;
    }
    bytes += wrote;
    length -= (size_t)wrote;
  }
  return close(fd) < 0 ? PN_EIO : 0;
}

int pn_fs_mkdtemp(const char *prefix, char **path) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  char *template = pn_strfmt("%s/%s-XXXXXX", base, prefix);
  if (!template)
    return PN_ENOMEM;
  if (!mkdtemp(template)) {
    pn_free(template);
    return PN_EIO;
  }
  *path = template;
  return 0;
}

static int write_all(int fd, const char *bytes, size_t length) {
  while (length > 0) {
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

/* The copy through a buffer, for filesystems copy_file_range cannot span. */
static int copy_through_buffer(int in, int out) {
  char chunk[65536];
  for (;;) {
    ssize_t got = read(in, chunk, sizeof chunk);
    if (got == 0)
      return 0;
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0 || write_all(out, chunk, (size_t)got) < 0)
      return PN_EIO;
  }
}

int pn_fs_copy(const char *from, const char *to, unsigned mode) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return PN_ENOENT;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
  if (out < 0) {
    close(in);
    return PN_EIO;
  }
  int rc = 0;
  for (;;) {
    ssize_t copied = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
    if (copied > 0)
      continue;
    if (copied < 0 && errno == EINTR)
      continue;
    if (copied < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
      rc = copy_through_buffer(in, out);
    else if (copied < 0)
      rc = PN_EIO;
    break;
  }
  close(in);
  if (close(out) < 0)
    rc = PN_EIO;
  return rc;
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *walk) {
  (void)info;
  (void)flag;
  (void)walk;
  return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int pn_fs_remove_tree(const char *path) {
  struct stat info;
  if (lstat(path, &info) < 0)
    return errno == ENOENT ? 0 : PN_EIO;
  if (!S_ISDIR(info.st_mode))
    return unlink(path) < 0 && errno != ENOENT ? PN_EIO : 0;
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? PN_EIO : 0;
}

char *pn_fs_join(const char *a, const char *b) {
  size_t length = strlen(a);
  if (length > 0 && a[length - 1] == '/')
    return pn_strfmt("%s%s", a, b);
  return pn_strfmt("%s/%s", a, b);
}

const char *pn_fs_self_dir(void) {
  static char dir[PATH_MAX];
  if (dir[0])
    return dir;
  ssize_t length = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (length <= 0) {
    strcpy(dir, ".");
    return dir;
  }
  dir[length] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  return dir;
}

int pn_fs_is_dir(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

int pn_fs_is_file(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}
