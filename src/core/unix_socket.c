/* Unix sockets named by paths of any length. See unix_socket.h. */
#include "core/unix_socket.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int pn_unix_address(const char *path, char address[PN_UNIX_PATH_MAX + 1], int *dir_fd) {
  *dir_fd = -1;
  size_t length = strlen(path);
  if (length <= PN_UNIX_PATH_MAX) {
    memcpy(address, path, length + 1);
    return 0;
  }
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  char *folder = slash ? pn_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
  if (slash && !folder)
    return PN_ENOMEM;
  int fd = open(folder ? folder : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int saved = errno;
  pn_free(folder);
  if (fd < 0) {
    errno = saved;
    return PN_EIO;
  }
  int written = snprintf(address, PN_UNIX_PATH_MAX + 1, "/proc/self/fd/%d/%s", fd, name);
  if (written < 0 || written > PN_UNIX_PATH_MAX) {
    close(fd);
    return PN_ETOOBIG;
  }
  *dir_fd = fd;
  return 0;
}

int pn_unix_listen(const char *path, int *out) {
  *out = -1;
  struct sockaddr_un socket_address = {.sun_family = AF_UNIX};
  int dir_fd = -1;
  int rc = pn_unix_address(path, socket_address.sun_path, &dir_fd);
  if (rc < 0)
    return rc;
  struct stat status;
  if (lstat(path, &status) == 0) {
    if (!S_ISSOCK(status.st_mode)) {
      if (dir_fd >= 0)
        close(dir_fd);
      return PN_EEXISTS;
    }
    unlink(path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  rc = fd >= 0 && bind(fd, (struct sockaddr *)&socket_address, sizeof socket_address) == 0 &&
               listen(fd, 128) == 0
           ? 0
           : PN_EIO;
  int saved = errno;
  if (dir_fd >= 0)
    close(dir_fd);
  if (rc < 0) {
    if (fd >= 0)
      close(fd);
    errno = saved;
    return rc;
  }
  *out = fd;
  return 0;
}
