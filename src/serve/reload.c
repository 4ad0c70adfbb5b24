/* Change detection for --reload. See reload.h. A fingerprint of the folder — the
 * number of watched files and the newest modification time among them — is taken on
 * each tick; a different fingerprint means something changed. Virtual environments,
 * caches and hidden folders are skipped. */
#include "serve/reload.h"

#include "core/alloc.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define TICK_MS 300
#define MAX_FILES 20000
#define MAX_DEPTH 8

struct pn_reload {
  char *dir;
  struct event *timer;
  pn_reload_fn changed;
  void *arg;
  long long files;
  long long newest_ns;
};

static int watched(const char *name) {
  size_t length = strlen(name);
  return (length > 3 && strcmp(name + length - 3, ".py") == 0) || strcmp(name, "cog.yaml") == 0 ||
         (length > 5 && strcmp(name + length - 5, ".yaml") == 0);
}

static void scan(const char *dir, int depth, long long *files, long long *newest) {
  if (depth > MAX_DEPTH || *files > MAX_FILES)
    return;
  DIR *handle = opendir(dir);
  if (!handle)
    return;
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/pyvenv.cfg", dir);
  struct stat info;
  if (depth > 0 && stat(marker, &info) == 0) {
    closedir(handle);
    return;
  }
  struct dirent *entry;
  while ((entry = readdir(handle)) && *files <= MAX_FILES) {
    const char *name = entry->d_name;
    if (name[0] == '.' || strcmp(name, "__pycache__") == 0 || strcmp(name, "node_modules") == 0)
      continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
      continue;
    if (lstat(path, &info) < 0)
      continue;
    if (S_ISDIR(info.st_mode)) {
      scan(path, depth + 1, files, newest);
    } else if (S_ISREG(info.st_mode) && watched(name)) {
      long long ns = (long long)info.st_mtim.tv_sec * 1000000000LL + info.st_mtim.tv_nsec;
      (*files)++;
      if (ns > *newest)
        *newest = ns;
    }
  }
  closedir(handle);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  pn_reload *reload = arg;
  long long files = 0, newest = 0;
  scan(reload->dir, 0, &files, &newest);
  if (files != reload->files || newest != reload->newest_ns) {
    reload->files = files;
    reload->newest_ns = newest;
    reload->changed(reload->arg);
  }
}

pn_reload *pn_reload_watch(struct event_base *base, const char *dir, pn_reload_fn changed,
                           void *arg) {
  pn_reload *reload = pn_calloc(1, sizeof *reload);
  if (!reload)
    return NULL;
  reload->dir = pn_strdup(dir);
  reload->changed = changed;
  reload->arg = arg;
  reload->timer = event_new(base, -1, EV_PERSIST, on_tick, reload);
  if (!reload->dir || !reload->timer) {
    pn_reload_free(reload);
    return NULL;
  }
  scan(reload->dir, 0, &reload->files, &reload->newest_ns);
  struct timeval interval = {0, TICK_MS * 1000};
  event_add(reload->timer, &interval);
  return reload;
}

void pn_reload_free(pn_reload *reload) {
  if (!reload)
    return;
  if (reload->timer)
    event_free(reload->timer);
  pn_free(reload->dir);
  pn_free(reload);
}
