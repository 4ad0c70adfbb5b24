/* Model bundles as tar archives: `pinion push` packs a model folder, the hub unpacks
 * it. libarchive does the format work, loaded with dlopen on first use (it pulls in a
 * dozen compression libraries that most commands never need). Packing is
 * deterministic, so the same folder always gives the same bytes (and the same version
 * id): entries sorted by path, mtime 0, uid/gid 0, no user or group names. */
#ifndef PN_CORE_TAR_H
#define PN_CORE_TAR_H

#include "core/buf.h"

#include <stddef.h>

/* The bytes read or copied at a time, packing and unpacking a file: what a bundle of
 * gigabytes costs in memory. */
#define PN_TAR_CHUNK ((size_t)65536)

/* Says whether the file or folder at `relative` (a path inside the packed folder,
 * without a leading "./") is left out. */
typedef int (*pn_tar_skip_fn)(const char *relative, int is_dir, void *arg);

/* A member added from memory instead of from the folder (e.g. a generated file). */
typedef struct pn_tar_extra {
  const char *path;
  const void *bytes;
  size_t length;
} pn_tar_extra;

/* Packs the regular files and folders under `dir` (symlinks are skipped) plus
 * `extras` (replacing files at the same paths) into an uncompressed tar appended to
 * `out`. On failure a negative PN_E* and *error, pn_malloc'd, that the caller frees. */
int pn_tar_pack(const char *dir, pn_tar_skip_fn skip, void *arg, const pn_tar_extra *extras,
                size_t extra_count, pn_buf *out, char **error);
/* The same, written to the file `fd` (the caller's; not closed) as it is made: each file
 * is copied a chunk at a time, so that packing a folder of gigabytes costs
 * PN_TAR_CHUNK bytes of memory, not the folder's size (the hub's bundles for
 * directors). */
int pn_tar_pack_fd(const char *dir, pn_tar_skip_fn skip, void *arg, const pn_tar_extra *extras,
                   size_t extra_count, int fd, char **error);

/* Ceilings checked while unpacking, so that a small archive cannot make the unpacker
 * write or walk without end (a gzip bomb, a tar of a million empty files). */
typedef struct pn_tar_limits {
  size_t max_bytes;   /* of file content, decompressed */
  size_t max_entries; /* headers of any kind: files, folders, links */
} pn_tar_limits;

/* Unpacks `bytes` (a tar, any compression libarchive reads) into the existing folder
 * `dest`. Only regular files and folders are written; absolute paths and ".."
 * components are refused (PN_EINVAL). Past a limit: PN_ETOOBIG, and *error says which
 * ("it unpacks to more than N bytes", "it has more than N entries"). Safe to call
 * from any thread. */
int pn_tar_unpack(const void *bytes, size_t length, const char *dest, const pn_tar_limits *limits,
                  char **error);
/* The same from the file `fd` (the caller's; read from its current offset, not closed),
 * read PN_TAR_CHUNK bytes at a time: a director unpacks a downloaded bundle of gigabytes
 * without holding it. One implementation with pn_tar_unpack: the same limits, the same
 * refusals, the same messages. PN_EINVAL when `fd` < 0. */
int pn_tar_unpack_fd(int fd, const char *dest, const pn_tar_limits *limits, char **error);

#endif
