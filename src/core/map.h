/* A hash table from strings to pointers, for lookups by id that must not grow with the
 * number of entries (the hub's live predictions). Open addressing with linear probing,
 * at most half full, and deletion by backward shift (no tombstones), so a lookup stays
 * a few probes however many keys came and went. The hash is FNV-1a, unseeded: keys
 * must not be chosen by outside clients (ids the process made itself are fine; an
 * attacker who picks keys could make them collide).
 *
 * Keys are borrowed, not copied: each must stay valid and unchanged while its entry is
 * in the table (the usual case: the key is a field of the value). A zeroed pn_map is an
 * empty table; pn_map_free releases the slots (never the keys or values). The table
 * grows as needed and never shrinks. */
#ifndef PN_CORE_MAP_H
#define PN_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pn_map_slot {
  const char *key; /* NULL: empty */
  uint64_t hash;
  void *value;
} pn_map_slot;

typedef struct pn_map {
  pn_map_slot *slots;
  size_t capacity; /* 0 or a power of two */
  size_t count;
} pn_map;

/* The value of `key`, or NULL when it has none. */
void *pn_map_get(const pn_map *map, const char *key);
/* Adds `key` -> `value` (`value` not NULL). PN_EEXISTS when `key` is there already (its
 * value is left as it was), PN_ENOMEM when the table could not grow (nothing changed). */
int pn_map_put(pn_map *map, const char *key, void *value);
/* Removes `key`; its value, or NULL when it had none. */
void *pn_map_remove(pn_map *map, const char *key);
/* Frees the slots and leaves an empty table. */
void pn_map_free(pn_map *map);
/* The hash of `key` (its home slot is hash & (capacity - 1)); for tests that need keys
 * that collide. */
uint64_t pn_map_hash(const char *key);

#endif
