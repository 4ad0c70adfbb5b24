/* Tar packing and unpacking with libarchive loaded on demand. See tar.h. The table of
 * entry points is filled with dlsym, as core/curl_api.c does for libcurl; archive.h
 * supplies the types and constants. */
#include "core/tar.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct archive_api {
  struct archive *(*write_new)(void);
  int (*write_set_format_pax_restricted)(struct archive *);
  int (*write_open)(struct archive *, void *, archive_open_callback *, archive_write_callback *,
                    archive_close_callback *);
  int (*write_header)(struct archive *, struct archive_entry *);
  la_ssize_t (*write_data)(struct archive *, const void *, size_t);
  int (*write_close)(struct archive *);
  int (*write_free)(struct archive *);
  int (*write_set_bytes_in_last_block)(struct archive *, int);
  struct archive *(*read_new)(void);
  int (*read_support_format_all)(struct archive *);
  int (*read_support_filter_all)(struct archive *);
  int (*read_open_memory)(struct archive *, const void *, size_t);
  int (*read_open_fd)(struct archive *, int, size_t);
  int (*read_next_header)(struct archive *, struct archive_entry **);
  la_ssize_t (*read_data)(struct archive *, void *, size_t);
  int (*read_free)(struct archive *);
  const char *(*error_string)(struct archive *);
  struct archive_entry *(*entry_new)(void);
  void (*entry_free)(struct archive_entry *);
  void (*entry_set_pathname)(struct archive_entry *, const char *);
  void (*entry_set_size)(struct archive_entry *, la_int64_t);
  void (*entry_set_filetype)(struct archive_entry *, unsigned int);
  void (*entry_set_perm)(struct archive_entry *, __LA_MODE_T);
  void (*entry_set_mtime)(struct archive_entry *, time_t, long);
  const char *(*entry_pathname)(struct archive_entry *);
  __LA_MODE_T (*entry_filetype)(struct archive_entry *);
  __LA_MODE_T (*entry_perm)(struct archive_entry *);
} archive_api;

static archive_api api;
static const char *load_error;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

#define RESOLVE(field, name)                                                                       \
  do {                                                                                             \
    *(void **)&api.field = dlsym(library, name);                                                   \
    if (!api.field) {                                                                              \
      load_error = "libarchive.so.13 lacks " name;                                                 \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

static void load_library(void) {
  void *library = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    load_error = "libarchive.so.13 could not be loaded: install libarchive13";
    return;
  }
  RESOLVE(write_new, "archive_write_new");
  RESOLVE(write_set_format_pax_restricted, "archive_write_set_format_pax_restricted");
  RESOLVE(write_open, "archive_write_open");
  RESOLVE(write_header, "archive_write_header");
  RESOLVE(write_data, "archive_write_data");
  RESOLVE(write_close, "archive_write_close");
  RESOLVE(write_free, "archive_write_free");
  RESOLVE(write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block");
  RESOLVE(read_new, "archive_read_new");
  RESOLVE(read_support_format_all, "archive_read_support_format_all");
  RESOLVE(read_support_filter_all, "archive_read_support_filter_all");
  RESOLVE(read_open_memory, "archive_read_open_memory");
  RESOLVE(read_open_fd, "archive_read_open_fd");
  RESOLVE(read_next_header, "archive_read_next_header");
  RESOLVE(read_data, "archive_read_data");
  RESOLVE(read_free, "archive_read_free");
  RESOLVE(error_string, "archive_error_string");
  RESOLVE(entry_new, "archive_entry_new");
  RESOLVE(entry_free, "archive_entry_free");
  RESOLVE(entry_set_pathname, "archive_entry_set_pathname");
  RESOLVE(entry_set_size, "archive_entry_set_size");
  RESOLVE(entry_set_filetype, "archive_entry_set_filetype");
  RESOLVE(entry_set_perm, "archive_entry_set_perm");
  RESOLVE(entry_set_mtime, "archive_entry_set_mtime");
  RESOLVE(entry_pathname, "archive_entry_pathname");
  RESOLVE(entry_filetype, "archive_entry_filetype");
  RESOLVE(entry_perm, "archive_entry_perm");
}

/* Loaded once, whichever thread asks first (the hub unpacks on its pool's threads). */
static const archive_api *load(void) {
  pthread_once(&load_once, load_library);
  return load_error ? NULL : &api;
}

/* --- packing -------------------------------------------------------------------- */

typedef struct member {
  char *path; /* relative */
  int is_dir;
  const pn_tar_extra *extra;
} member;

typedef struct member_list {
  member *items;
  size_t count, capacity;
} member_list;

static int add_member(member_list *list, char *path, int is_dir, const pn_tar_extra *extra) {
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? list->capacity * 2 : 64;
    member *items = pn_realloc(list->items, capacity * sizeof *items);
    if (!items) {
      pn_free(path);
      return PN_ENOMEM;
    }
    list->items = items;
    list->capacity = capacity;
  }
  list->items[list->count++] = (member){path, is_dir, extra};
  return 0;
}

static int is_extra(const pn_tar_extra *extras, size_t count, const char *path) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(extras[i].path, path) == 0)
      return 1;
  return 0;
}

static int walk(const char *root, const char *relative, pn_tar_skip_fn skip, void *arg,
                const pn_tar_extra *extras, size_t extra_count, member_list *list) {
  char *dir_path = *relative ? pn_fs_join(root, relative) : pn_strdup(root);
  if (!dir_path)
    return PN_ENOMEM;
  DIR *dir = opendir(dir_path);
  if (!dir) {
    pn_free(dir_path);
    return PN_EIO;
  }
  int rc = 0;
  struct dirent *item;
  while (rc == 0 && (item = readdir(dir))) {
    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0)
      continue;
    char *path = *relative ? pn_strfmt("%s/%s", relative, item->d_name) : pn_strdup(item->d_name);
    char *full = path ? pn_fs_join(root, path) : NULL;
    struct stat info;
    if (!path || !full) {
      pn_free(path);
      pn_free(full);
      rc = PN_ENOMEM;
      break;
    }
    if (lstat(full, &info) < 0 || !(S_ISDIR(info.st_mode) || S_ISREG(info.st_mode)) ||
        (skip && skip(path, S_ISDIR(info.st_mode), arg)) || is_extra(extras, extra_count, path)) {
      pn_free(path);
      pn_free(full);
      continue;
    }
    pn_free(full);
    int is_dir = S_ISDIR(info.st_mode);
    rc = add_member(list, path, is_dir, NULL);
    if (rc == 0 && is_dir)
      rc = walk(root, list->items[list->count - 1].path, skip, arg, extras, extra_count, list);
  }
  closedir(dir);
  pn_free(dir_path);
  return rc;
}

static int compare_members(const void *a, const void *b) {
  return strcmp(((const member *)a)->path, ((const member *)b)->path);
}

static la_ssize_t write_to_buf(struct archive *archive, void *arg, const void *bytes,
                               size_t length) {
  return pn_buf_append(arg, bytes, length) < 0 ? -1 : (la_ssize_t)length;
}

static la_ssize_t write_to_fd(struct archive *archive, void *arg, const void *bytes,
                              size_t length) {
  int fd = *(const int *)arg;
  for (size_t done = 0; done < length;) {
    ssize_t wrote = write(fd, (const char *)bytes + done, length - done);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0)
      return -1;
    done += (size_t)wrote;
  }
  return (la_ssize_t)length;
}

/* Copies the file's `length` bytes into the archive's current entry, a chunk at a time:
 * a file of gigabytes is never held whole. */
static int copy_file_data(const archive_api *lib, struct archive *archive, int fd, uint64_t length,
                          const char *path, char **error) {
  char chunk[PN_TAR_CHUNK];
  for (uint64_t done = 0; done < length;) {
    size_t want = length - done < sizeof chunk ? (size_t)(length - done) : sizeof chunk;
    ssize_t got = read(fd, chunk, want);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      *error = got < 0 ? pn_strfmt("cannot read %s: %s", path, strerror(errno))
                       : pn_strfmt("%s shrank while it was packed (%llu of %llu bytes read)", path,
                                   (unsigned long long)done, (unsigned long long)length);
      return PN_EIO;
    }
    if (lib->write_data(archive, chunk, (size_t)got) != (la_ssize_t)got) {
      *error = pn_strfmt("cannot archive %s: %s", path, lib->error_string(archive));
      return PN_EIO;
    }
    done += (uint64_t)got;
  }
  return 0;
}

static int write_member(const archive_api *lib, struct archive *archive, const char *root,
                        const member *item, char **error) {
  uint64_t length = 0;
  int fd = -1, executable = 0;
  if (item->extra) {
    length = item->extra->length;
  } else if (!item->is_dir) {
    char *full = pn_fs_join(root, item->path);
    struct stat info;
    fd = full ? open(full, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 || fstat(fd, &info) < 0 || !S_ISREG(info.st_mode)) {
      *error = full ? pn_strfmt("cannot read %s: %s", item->path,
                                fd < 0 ? strerror(errno) : "not a regular file")
                    : NULL;
      if (fd >= 0)
        close(fd);
      pn_free(full);
      return full ? PN_EIO : PN_ENOMEM;
    }
    length = (uint64_t)info.st_size;
    executable = access(full, X_OK) == 0;
    pn_free(full);
  }
  struct archive_entry *entry = lib->entry_new();
  if (!entry) {
    if (fd >= 0)
      close(fd);
    return PN_ENOMEM;
  }
  int rc = 0;
  lib->entry_set_pathname(entry, item->path);
  lib->entry_set_filetype(entry, item->is_dir ? AE_IFDIR : AE_IFREG);
  lib->entry_set_perm(entry, item->is_dir || executable ? 0755 : 0644);
  lib->entry_set_size(entry, item->is_dir ? 0 : (la_int64_t)length);
  lib->entry_set_mtime(entry, 0, 0);
  if (lib->write_header(archive, entry) != ARCHIVE_OK) {
    *error = pn_strfmt("cannot archive %s: %s", item->path, lib->error_string(archive));
    rc = PN_EIO;
  } else if (item->extra && length) {
    if (lib->write_data(archive, item->extra->bytes, length) != (la_ssize_t)length) {
      *error = pn_strfmt("cannot archive %s: %s", item->path, lib->error_string(archive));
      rc = PN_EIO;
    }
  } else if (fd >= 0) {
    rc = copy_file_data(lib, archive, fd, length, item->path, error);
  }
  lib->entry_free(entry);
  if (fd >= 0)
    close(fd);
  return rc;
}

/* Packs into whatever `sink` is, through `write` (pn_tar_pack, pn_tar_pack_fd). */
static int pack(const char *dir, pn_tar_skip_fn skip, void *arg, const pn_tar_extra *extras,
                size_t extra_count, archive_write_callback *write, void *sink, char **error) {
  *error = NULL;
  const archive_api *lib = load();
  if (!lib) {
    *error = pn_strdup(load_error);
    return PN_EUNSUPPORTED;
  }
  member_list list = {0};
  int rc = walk(dir, "", skip, arg, extras, extra_count, &list);
  for (size_t i = 0; rc == 0 && i < extra_count; i++) {
    /* Parent folders of extras that the folder itself lacks (e.g. ".cog"). */
    char *path = pn_strdup(extras[i].path);
    for (char *slash = path ? strchr(path, '/') : NULL; slash; slash = strchr(slash + 1, '/')) {
      *slash = '\0';
      int present = 0;
      for (size_t j = 0; j < list.count; j++)
        present |= strcmp(list.items[j].path, path) == 0;
      if (!present)
        rc = add_member(&list, pn_strdup(path), 1, NULL);
      *slash = '/';
    }
    pn_free(path);
    if (rc == 0)
      rc = add_member(&list, pn_strdup(extras[i].path), 0, &extras[i]);
  }
  if (rc < 0) {
    *error = pn_strfmt("cannot read the folder %s: %s", dir, pn_strerror(rc));
  } else {
    qsort(list.items, list.count, sizeof *list.items, compare_members);
    struct archive *archive = lib->write_new();
    lib->write_set_format_pax_restricted(archive);
    lib->write_set_bytes_in_last_block(archive, 1);
    if (lib->write_open(archive, sink, NULL, write, NULL) != ARCHIVE_OK) {
      *error = pn_strfmt("cannot start the archive: %s", lib->error_string(archive));
      rc = PN_EIO;
    }
    for (size_t i = 0; rc == 0 && i < list.count; i++)
      rc = write_member(lib, archive, dir, &list.items[i], error);
    if (lib->write_close(archive) != ARCHIVE_OK && rc == 0) {
      *error = pn_strfmt("cannot finish the archive: %s", lib->error_string(archive));
      rc = PN_EIO;
    }
    lib->write_free(archive);
  }
  for (size_t i = 0; i < list.count; i++)
    pn_free(list.items[i].path);
  pn_free(list.items);
  return rc;
}

int pn_tar_pack(const char *dir, pn_tar_skip_fn skip, void *arg, const pn_tar_extra *extras,
                size_t extra_count, pn_buf *out, char **error) {
  return pack(dir, skip, arg, extras, extra_count, write_to_buf, out, error);
}

int pn_tar_pack_fd(const char *dir, pn_tar_skip_fn skip, void *arg, const pn_tar_extra *extras,
                   size_t extra_count, int fd, char **error) {
  return pack(dir, skip, arg, extras, extra_count, write_to_fd, &fd, error);
}

/* --- unpacking ------------------------------------------------------------------ */

static int safe_path(const char *path) {
  if (!*path || path[0] == '/')
    return 0;
  for (const char *at = path; at; at = strchr(at, '/')) {
    if (*at == '/')
      at++;
    if (strncmp(at, "..", 2) == 0 && (at[2] == '/' || at[2] == '\0'))
      return 0;
  }
  return 1;
}

static int make_parents(char *path) {
  for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    int rc = mkdir(path, 0755);
    *slash = '/';
    if (rc < 0 && errno != EEXIST)
      return PN_EIO;
  }
  return 0;
}

static int extract_file(const archive_api *lib, struct archive *archive, const char *full, int mode,
                        size_t *total, const pn_tar_limits *limits, char **error) {
  int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return PN_EIO;
  char block[PN_TAR_CHUNK];
  la_ssize_t got;
  int rc = 0;
  while ((got = lib->read_data(archive, block, sizeof block)) > 0) {
    *total += (size_t)got;
    if (*total > limits->max_bytes) {
      *error = pn_strfmt("it unpacks to more than %zu bytes", limits->max_bytes);
      rc = PN_ETOOBIG;
      break;
    }
    if (write(fd, block, (size_t)got) != got) {
      rc = PN_EIO;
      break;
    }
  }
  if (got < 0)
    rc = PN_EIO;
  close(fd);
  return rc;
}

/* The one unpacking loop, over an archive already opened on memory or on a file. */
static int unpack_entries(const archive_api *lib, struct archive *archive, const char *dest,
                          const pn_tar_limits *limits, char **error) {
  int rc = 0;
  size_t total = 0, entries = 0;
  struct archive_entry *entry;
  int status;
  while (rc == 0 && (status = lib->read_next_header(archive, &entry)) != ARCHIVE_EOF) {
    if (status < ARCHIVE_WARN) {
      *error = pn_strfmt("a damaged archive: %s", lib->error_string(archive));
      rc = PN_EPARSE;
      break;
    }
    if (++entries > limits->max_entries) {
      *error = pn_strfmt("it has more than %zu entries", limits->max_entries);
      rc = PN_ETOOBIG;
      break;
    }
    const char *path = lib->entry_pathname(entry);
    while (path && strncmp(path, "./", 2) == 0)
      path += 2;
    if (!path || !*path || strcmp(path, ".") == 0)
      continue;
    if (!safe_path(path)) {
      *error = pn_strfmt("the archive has the unsafe path \"%s\"", path);
      rc = PN_EINVAL;
      break;
    }
    char *full = pn_fs_join(dest, path);
    if (!full) {
      rc = PN_ENOMEM;
      break;
    }
    size_t full_length = strlen(full);
    if (full_length && full[full_length - 1] == '/')
      full[full_length - 1] = '\0';
    rc = make_parents(full);
    unsigned type = lib->entry_filetype(entry);
    if (rc == 0 && type == AE_IFDIR) {
      if (mkdir(full, 0755) < 0 && errno != EEXIST)
        rc = PN_EIO;
    } else if (rc == 0 && type == AE_IFREG) {
      rc = extract_file(lib, archive, full, (lib->entry_perm(entry) & 0111) ? 0755 : 0644, &total,
                        limits, error);
    }
    if (rc < 0 && !*error)
      *error = pn_strfmt("cannot unpack %s: %s", path, pn_strerror(rc));
    pn_free(full);
  }
  return rc;
}

/* Opens a reader on `bytes` or, when `fd` >= 0, on the file (read PN_TAR_CHUNK bytes at
 * a time), then unpacks: both entry points share every check. */
static int unpack(const void *bytes, size_t length, int fd, const char *dest,
                  const pn_tar_limits *limits, char **error) {
  *error = NULL;
  const archive_api *lib = load();
  if (!lib) {
    *error = pn_strdup(load_error);
    return PN_EUNSUPPORTED;
  }
  struct archive *archive = lib->read_new();
  if (!archive)
    return PN_ENOMEM;
  lib->read_support_format_all(archive);
  lib->read_support_filter_all(archive);
  int rc = 0;
  int opened = fd >= 0 ? lib->read_open_fd(archive, fd, PN_TAR_CHUNK)
                       : lib->read_open_memory(archive, bytes, length);
  if (opened != ARCHIVE_OK) {
    *error = pn_strfmt("not an archive: %s", lib->error_string(archive));
    rc = PN_EPARSE;
  }
  if (rc == 0)
    rc = unpack_entries(lib, archive, dest, limits, error);
  lib->read_free(archive);
  return rc;
}

int pn_tar_unpack(const void *bytes, size_t length, const char *dest, const pn_tar_limits *limits,
                  char **error) {
  return unpack(bytes, length, -1, dest, limits, error);
}

int pn_tar_unpack_fd(int fd, const char *dest, const pn_tar_limits *limits, char **error) {
  if (fd < 0) {
    *error = pn_strdup("no archive to unpack (a closed file)");
    return PN_EINVAL;
  }
  return unpack(NULL, 0, fd, dest, limits, error);
}
