/* A string-keyed hash table. See map.h.
 *
 * Linear probing keeps a key's run of slots contiguous from its home slot, which is
 * what lets deletion close the gap by shifting the following entries back (Knuth's
 * Algorithm R) instead of leaving tombstones that would lengthen every later probe.
 * Each slot keeps its key's full hash, so growing never rehashes a key and a probe
 * compares strings only when the hashes match. */
#include "core/map.h"

#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

#define MAP_MIN_CAPACITY 16

uint64_t pn_map_hash(const char *key) {
  uint64_t hash = 14695981039346656037ull;
  for (const unsigned char *at = (const unsigned char *)key; *at; at++) {
    hash ^= *at;
    hash *= 1099511628211ull;
  }
  return hash;
}

/* The slot of `key`, or the empty slot that ends its run (where it would go). */
static size_t find_slot(const pn_map *map, const char *key, uint64_t hash) {
  size_t mask = map->capacity - 1;
  size_t index = (size_t)hash & mask;
  while (map->slots[index].key &&
         (map->slots[index].hash != hash || strcmp(map->slots[index].key, key) != 0))
    index = (index + 1) & mask;
  return index;
}

void *pn_map_get(const pn_map *map, const char *key) {
  if (!map->count)
    return NULL;
  pn_map_slot *slot = &map->slots[find_slot(map, key, pn_map_hash(key))];
  return slot->key ? slot->value : NULL;
}

static int grow(pn_map *map) {
  size_t capacity = map->capacity ? map->capacity * 2 : MAP_MIN_CAPACITY;
  if (capacity < map->capacity)
    return PN_ENOMEM;
  pn_map bigger = {pn_calloc(capacity, sizeof *bigger.slots), capacity, map->count};
  if (!bigger.slots)
    return PN_ENOMEM;
  for (size_t i = 0; i < map->capacity; i++)
    if (map->slots[i].key)
      bigger.slots[find_slot(&bigger, map->slots[i].key, map->slots[i].hash)] = map->slots[i];
  pn_free(map->slots);
  *map = bigger;
  return 0;
}

int pn_map_put(pn_map *map, const char *key, void *value) {
  uint64_t hash = pn_map_hash(key);
  if (map->count && map->slots[find_slot(map, key, hash)].key)
    return PN_EEXISTS;
  /* At most half full: runs stay short, and there is always an empty slot to end one. */
  if ((map->count + 1) * 2 > map->capacity) {
    int rc = grow(map);
    if (rc < 0)
      return rc;
  }
  map->slots[find_slot(map, key, hash)] = (pn_map_slot){key, hash, value};
  map->count++;
  return 0;
}

void *pn_map_remove(pn_map *map, const char *key) {
  if (!map->count)
    return NULL;
  size_t mask = map->capacity - 1;
  size_t gap = find_slot(map, key, pn_map_hash(key));
  if (!map->slots[gap].key)
    return NULL;
  void *value = map->slots[gap].value;
  /* Moves back each later entry of the run whose home slot does not lie cyclically in
   * (gap, index]: a probe for it starts at or before the gap, so it must not find the
   * gap empty. */
  for (size_t index = (gap + 1) & mask; map->slots[index].key; index = (index + 1) & mask) {
    size_t home = (size_t)map->slots[index].hash & mask;
    int reachable_past_gap =
        gap <= index ? (gap < home && home <= index) : (gap < home || home <= index);
    if (!reachable_past_gap) {
      map->slots[gap] = map->slots[index];
      gap = index;
    }
  }
  map->slots[gap] = (pn_map_slot){0};
  map->count--;
  return value;
}

void pn_map_free(pn_map *map) {
  pn_free(map->slots);
  *map = (pn_map){0};
}
