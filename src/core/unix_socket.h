/* Unix stream sockets named by a path, of any length: how the hub and the model servers
 * it sandboxes reach each other without a network (docs/security.md). A socket's
 * address holds at most 107 bytes of path, while the folders pinion puts sockets in
 * (the hub's data folder, an instance's scratch folder) are the operator's and may be
 * longer; a longer path is reached through a descriptor of its folder,
 * /proc/self/fd/N/NAME, which the kernel resolves like the path itself. */
#ifndef PN_CORE_UNIX_SOCKET_H
#define PN_CORE_UNIX_SOCKET_H

#include <stddef.h>

/* The longest path a socket's address holds (sun_path, less its NUL). */
#define PN_UNIX_PATH_MAX 107

/* An address for `path` that fits a socket's: `path` itself when it fits, otherwise
 * /proc/self/fd/N/NAME with N a new O_PATH descriptor of its folder, in *dir_fd (-1
 * when none was needed), which must stay open while the address is used and be closed
 * by the caller afterwards. `address` has room for PN_UNIX_PATH_MAX + 1 bytes. Returns
 * 0, PN_ETOOBIG (the file's own name is too long) or PN_EIO (the folder cannot be
 * opened; errno says why). */
int pn_unix_address(const char *path, char address[PN_UNIX_PATH_MAX + 1], int *dir_fd);

/* A listening socket (non-blocking, close-on-exec, backlog 128) bound at `path`, in
 * *fd. A socket left there by an earlier run is replaced; any other file is left alone
 * (PN_EEXISTS). The socket file gets the process's umask. Returns 0 or a negative
 * PN_E* code with errno saying why (PN_EIO). */
int pn_unix_listen(const char *path, int *fd);

#endif
