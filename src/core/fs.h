/* Files and folders: whole-file reads with a ceiling, temporary folders, recursive
 * removal, and where the running binary lives. */
#ifndef PN_CORE_FS_H
#define PN_CORE_FS_H

#include <stddef.h>

/* Reads the whole file into a pn_malloc'd, NUL-terminated buffer that the caller
 * frees. PN_ETOOBIG past `limit` bytes, PN_ENOENT when missing, PN_EIO otherwise. */
int pn_fs_read(const char *path, size_t limit, char **data, size_t *length);
/* Writes `length` bytes to `path`, replacing it. */
int pn_fs_write(const char *path, const void *data, size_t length);
/* Creates a fresh private folder under $TMPDIR (or /tmp) named prefix-XXXXXX; the
 * caller frees the returned path with pn_free and removes the folder. */
int pn_fs_mkdtemp(const char *prefix, char **path);
/* Copies the file `from` to `to` (created with `mode` less the umask, replaced if
 * present), in the kernel where it can (copy_file_range: a reflink on filesystems that
 * have them). PN_ENOENT when `from` cannot be opened, PN_EIO otherwise. */
int pn_fs_copy(const char *from, const char *to, unsigned mode);
/* Removes a file or a folder with everything in it. Missing is not an error. */
int pn_fs_remove_tree(const char *path);
/* `a` and `b` joined by one "/", pn_malloc'd. */
char *pn_fs_join(const char *a, const char *b);
/* The folder of the running executable (static storage), from /proc/self/exe. */
const char *pn_fs_self_dir(void);
int pn_fs_is_dir(const char *path);
int pn_fs_is_file(const char *path);

#endif
