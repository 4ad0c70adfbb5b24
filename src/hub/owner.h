/* This hub's own part of a data folder that several hubs may share (replicas on one
 * volume, docs/scale-out.md): its instances' scratch folders and its internal socket.
 *
 * Each hub process claims an owner name, <host>-<pid>-<random>, and holds an exclusive
 * lock (flock) on DATA/instances/<owner>.lock for as long as it lives. Its instances'
 * scratch folders go in DATA/instances/<owner>/, its unix socket for sandboxed models is
 * DATA/instances/<owner>.sock. The lock is the liveness check: the kernel drops it when
 * the process dies, however it dies, and a lock on a network file system (NFSv4, CephFS)
 * is seen by every host. A sweep (at start, and every few minutes) removes the parts of
 * owners whose lock nobody holds, and kills what still runs on this host over their
 * scratch folders: only what a dead hub left, never a live replica's. */
#ifndef PN_HUB_OWNER_H
#define PN_HUB_OWNER_H

typedef struct pn_hub_owner pn_hub_owner;

/* Claims a new owner name under DATA/instances/ (which must exist): its lock taken, its
 * scratch folder made. *error (pn_malloc'd) says what failed. */
int pn_hub_owner_claim(const char *data_dir, pn_hub_owner **owner, char **error);

/* DATA/instances/<owner>: where this process's instances' scratch folders go. */
const char *pn_hub_owner_scratch(const pn_hub_owner *owner);

/* DATA/instances/<owner>.sock: this process's unix socket for sandboxed models. */
const char *pn_hub_owner_socket(const pn_hub_owner *owner);

/* The owner's name, <host>-<pid>-<random>, for the log. */
const char *pn_hub_owner_name(const pn_hub_owner *owner);

/* Removes what dead owners left under DATA/instances/ (their scratch folders, sockets
 * and locks, and what an older pinion left there without a lock), after killing the
 * processes of this host that run over those scratch folders (`kill_strays`, the
 * scheduler's: director/sandbox.h pn_sandbox_kill_strays; NULL kills nothing). Returns
 * how many owners' parts went, or < 0 when DATA/instances/ cannot be read. Safe while
 * other hubs run and sweep: a live owner's lock is held, and of two sweepers only one
 * locks a dead owner's. */
typedef int (*pn_hub_kill_strays_fn)(const char *dir);
int pn_hub_owner_sweep(const char *data_dir, pn_hub_kill_strays_fn kill_strays);

/* Removes this owner's scratch folder and socket, then drops its lock (a hub stopping). */
void pn_hub_owner_release(pn_hub_owner *owner);

#endif
