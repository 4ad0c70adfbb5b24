/* The hub's blob store: the bytes of uploaded and output files, content-addressed by
 * their sha256. Today a folder, DATA/blobs/<first two hex>/<sha256>, which hub replicas
 * share (a volume every replica mounts: docs/scale-out.md, "Hub replicas"). Every use
 * of the bytes goes through these calls, so that an object store can stand behind them
 * later (it would keep a local copy for pn_hub_blob_path). Whether a blob is still
 * wanted is the store's business (a file row points at it), not this one's. Safe from
 * any thread: uploads write blobs on the hub's pool. */
#ifndef PN_HUB_BLOBS_H
#define PN_HUB_BLOBS_H

#include <stddef.h>
#include <time.h>

/* Stores `bytes` as blob `sha256` (64 hex) unless it is there. Written under a staging
 * name of its own and renamed into place, so that writers of the same blob at once (two
 * uploads, two replicas) never expose or rename each other's half-written file. */
int pn_hub_blob_write(const char *data_dir, const char *sha256, const void *bytes, size_t length);

/* A local file that holds blob `sha256`'s bytes, to read or send (sendfile);
 * pn_malloc'd. It may not exist: pn_hub_blob_exists says. */
char *pn_hub_blob_path(const char *data_dir, const char *sha256);

int pn_hub_blob_exists(const char *data_dir, const char *sha256);

/* Deletes blob `sha256` unless `wanted(arg, sha256)` says, once the blob is set aside
 * where no writer or reader finds it, that it is wanted after all (1; or < 0, when it
 * cannot say): then it is put back. A writer that records a new reference to the blob
 * and then checks pn_hub_blob_exists either finds it, and its reference is seen by
 * `wanted`, or rewrites it. 0 when it is gone or put back (also when it was not there);
 * readers that have it open keep reading it. */
int pn_hub_blob_delete_unless(const char *data_dir, const char *sha256,
                              int (*wanted)(void *arg, const void *sha256), void *arg);

/* A staging (`.partial-`) or set-aside (`.deleting-`) file is held by its writer for one
 * write of bytes already in memory, or one question to the store: one left this long
 * belongs to a writer that died (a replica killed mid-write). */
#define PN_HUB_BLOB_LEFTOVER_SECONDS 3600

/* Removes the staging and set-aside files under DATA/blobs/ last modified before
 * `older_than` (a time(2) value): what writers that died left. Returns how many went,
 * or < 0 when DATA/blobs/ cannot be read (0 when it does not exist yet). Reads every
 * folder of blobs: run it off the loop. */
int pn_hub_blob_sweep_leftovers(const char *data_dir, time_t older_than);

#endif
