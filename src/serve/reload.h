/* `pinion serve --reload`: watch the model's folder and reload the model when its
 * Python files or cog.yaml change, so an edit is live in about the time setup takes.
 * Polling (every 300 ms) keeps it simple and works on every file system, including
 * the bind mounts and network shares models often live on. */
#ifndef PN_SERVE_RELOAD_H
#define PN_SERVE_RELOAD_H

#include <event2/event.h>

typedef struct pn_reload pn_reload;
typedef void (*pn_reload_fn)(void *arg);

/* Watches `dir`; calls `changed` after a change. NULL without memory. */
pn_reload *pn_reload_watch(struct event_base *base, const char *dir, pn_reload_fn changed,
                           void *arg);
void pn_reload_free(pn_reload *reload);

#endif
