/* Unit tests for core/map: lookups, duplicates, growth, collisions and the backward
 * shift of deletion (also across the end of the table), churn against a reference,
 * and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/map.h"

#include <stdio.h>
#include <string.h>

#define MANY 20000

static char keys[MANY][16];

static void make_keys(void) {
  for (int i = 0; i < MANY; i++)
    snprintf(keys[i], sizeof keys[i], "key-%d", i);
}

/* A value that is not NULL and tells keys apart. */
static void *value_of(int index) { return (void *)(uintptr_t)(index + 1); }

static void an_empty_map_finds_nothing(void **state) {
  pn_map map = {0};
  assert_null(pn_map_get(&map, "absent"));
  assert_null(pn_map_remove(&map, "absent"));
  assert_int_equal(map.count, 0);
  pn_map_free(&map);
  assert_null(map.slots);
}

static void put_get_remove_and_duplicates(void **state) {
  pn_map map = {0};
  assert_int_equal(pn_map_put(&map, "a", value_of(1)), 0);
  assert_int_equal(pn_map_put(&map, "b", value_of(2)), 0);
  assert_ptr_equal(pn_map_get(&map, "a"), value_of(1));
  assert_ptr_equal(pn_map_get(&map, "b"), value_of(2));
  assert_null(pn_map_get(&map, "c"));
  /* A key already there keeps its value; the caller decides what a duplicate means. */
  assert_int_equal(pn_map_put(&map, "a", value_of(3)), PN_EEXISTS);
  assert_ptr_equal(pn_map_get(&map, "a"), value_of(1));
  assert_int_equal(map.count, 2);
  /* Keys compare by content, not by pointer. */
  char copy[] = "b";
  assert_ptr_equal(pn_map_get(&map, copy), value_of(2));
  assert_ptr_equal(pn_map_remove(&map, copy), value_of(2));
  assert_null(pn_map_get(&map, "b"));
  assert_null(pn_map_remove(&map, "b"));
  assert_int_equal(map.count, 1);
  assert_int_equal(pn_map_put(&map, "b", value_of(4)), 0);
  assert_ptr_equal(pn_map_get(&map, "b"), value_of(4));
  pn_map_free(&map);
}

static void many_keys_grow_the_table_at_half_full(void **state) {
  make_keys();
  pn_map map = {0};
  for (int i = 0; i < MANY; i++) {
    assert_int_equal(pn_map_put(&map, keys[i], value_of(i)), 0);
    assert_true(map.count * 2 <= map.capacity);
  }
  assert_int_equal(map.count, MANY);
  /* 20000 keys at most half full: the next power of two from 40000. */
  assert_int_equal(map.capacity, 65536);
  for (int i = 0; i < MANY; i++)
    assert_ptr_equal(pn_map_get(&map, keys[i]), value_of(i));
  assert_null(pn_map_get(&map, "key-20000"));
  for (int i = 0; i < MANY; i += 2)
    assert_ptr_equal(pn_map_remove(&map, keys[i]), value_of(i));
  assert_int_equal(map.count, MANY / 2);
  for (int i = 0; i < MANY; i++) {
    if (i % 2)
      assert_ptr_equal(pn_map_get(&map, keys[i]), value_of(i));
    else
      assert_null(pn_map_get(&map, keys[i]));
  }
  pn_map_free(&map);
}

/* The slot that holds `key` (its index), or -1. */
static long slot_of(const pn_map *map, const char *key) {
  for (size_t i = 0; i < map->capacity; i++)
    if (map->slots[i].key && strcmp(map->slots[i].key, key) == 0)
      return (long)i;
  return -1;
}

/* Keys whose home slot in a table of 16 is `home`, into `out`. */
static void keys_at_home(size_t home, char out[][16], int count) {
  int found = 0;
  for (int i = 0; found < count && i < 100000; i++) {
    char key[16];
    snprintf(key, sizeof key, "c%d", i);
    if ((pn_map_hash(key) & 15) == home)
      memcpy(out[found++], key, sizeof key);
  }
  assert_int_equal(found, count);
}

/* Four keys at home 15 run over the end of the table (15, 0, 1, 2), a key at home 0
 * lands behind them (3) and one at home 4 at its home, which continues the run.
 * Removing the first of the run shifts each later one back by one, across the end; the
 * key at home 0 moves to 2, still reachable from its home; the one at home 4 stays. */
static void collisions_wrap_and_removal_shifts_the_run_back(void **state) {
  char wrapped[4][16], at_zero[1][16], at_four[1][16];
  keys_at_home(15, wrapped, 4);
  keys_at_home(0, at_zero, 1);
  keys_at_home(4, at_four, 1);
  pn_map map = {0};
  for (int i = 0; i < 4; i++)
    assert_int_equal(pn_map_put(&map, wrapped[i], value_of(i)), 0);
  assert_int_equal(pn_map_put(&map, at_zero[0], value_of(9)), 0);
  assert_int_equal(pn_map_put(&map, at_four[0], value_of(10)), 0);
  assert_int_equal(map.capacity, 16);
  assert_int_equal(slot_of(&map, wrapped[0]), 15);
  assert_int_equal(slot_of(&map, wrapped[1]), 0);
  assert_int_equal(slot_of(&map, wrapped[3]), 2);
  assert_int_equal(slot_of(&map, at_zero[0]), 3);
  assert_int_equal(slot_of(&map, at_four[0]), 4);

  assert_ptr_equal(pn_map_remove(&map, wrapped[0]), value_of(0));
  assert_int_equal(slot_of(&map, wrapped[1]), 15);
  assert_int_equal(slot_of(&map, wrapped[2]), 0);
  assert_int_equal(slot_of(&map, wrapped[3]), 1);
  assert_int_equal(slot_of(&map, at_zero[0]), 2);
  assert_null(map.slots[3].key);
  assert_int_equal(slot_of(&map, at_four[0]), 4);
  assert_ptr_equal(pn_map_get(&map, at_four[0]), value_of(10));
  for (int i = 1; i < 4; i++)
    assert_ptr_equal(pn_map_get(&map, wrapped[i]), value_of(i));
  assert_ptr_equal(pn_map_get(&map, at_zero[0]), value_of(9));

  /* Removing from the middle shifts only what follows; removing the last of a run
   * moves nothing. */
  assert_ptr_equal(pn_map_remove(&map, wrapped[2]), value_of(2));
  assert_int_equal(slot_of(&map, wrapped[3]), 0);
  assert_int_equal(slot_of(&map, at_zero[0]), 1);
  assert_ptr_equal(pn_map_remove(&map, at_zero[0]), value_of(9));
  assert_int_equal(slot_of(&map, wrapped[3]), 0);
  assert_ptr_equal(pn_map_get(&map, wrapped[1]), value_of(1));
  assert_ptr_equal(pn_map_get(&map, wrapped[3]), value_of(3));
  assert_ptr_equal(pn_map_get(&map, at_four[0]), value_of(10));
  assert_int_equal(map.count, 3);
  pn_map_free(&map);
}

/* Random puts and removes over 2000 keys, checked against a plain array after every
 * step: no entry is lost or found twice however runs form and close. */
static void churn_matches_a_reference(void **state) {
  make_keys();
  enum { KEYS = 2000, STEPS = 200000 };
  static int present[KEYS];
  memset(present, 0, sizeof present);
  size_t expected = 0;
  uint64_t random = 88172645463325252ull;
  pn_map map = {0};
  for (int step = 0; step < STEPS; step++) {
    random ^= random << 13;
    random ^= random >> 7;
    random ^= random << 17;
    int index = (int)(random % KEYS);
    if (random & (1u << 20)) {
      int rc = pn_map_put(&map, keys[index], value_of(index));
      assert_int_equal(rc, present[index] ? PN_EEXISTS : 0);
      expected += !present[index];
      present[index] = 1;
    } else {
      void *removed = pn_map_remove(&map, keys[index]);
      assert_ptr_equal(removed, present[index] ? value_of(index) : NULL);
      expected -= (size_t)present[index];
      present[index] = 0;
    }
    assert_int_equal(map.count, expected);
  }
  for (int i = 0; i < KEYS; i++)
    assert_ptr_equal(pn_map_get(&map, keys[i]), present[i] ? value_of(i) : NULL);
  pn_map_free(&map);
}

static void a_failed_growth_changes_nothing(void **state) {
  make_keys();
  pn_map map = {0};
  pn_alloc_fail_after(0);
  assert_int_equal(pn_map_put(&map, keys[0], value_of(0)), PN_ENOMEM);
  pn_alloc_fail_after(-1);
  assert_int_equal(map.count, 0);
  assert_null(pn_map_get(&map, keys[0]));
  for (int i = 0; i < 8; i++)
    assert_int_equal(pn_map_put(&map, keys[i], value_of(i)), 0);
  assert_int_equal(map.capacity, 16);
  /* The ninth key needs a table of 32. */
  pn_alloc_fail_after(0);
  assert_int_equal(pn_map_put(&map, keys[8], value_of(8)), PN_ENOMEM);
  pn_alloc_fail_after(-1);
  assert_int_equal(map.capacity, 16);
  assert_int_equal(map.count, 8);
  assert_null(pn_map_get(&map, keys[8]));
  for (int i = 0; i < 8; i++)
    assert_ptr_equal(pn_map_get(&map, keys[i]), value_of(i));
  assert_int_equal(pn_map_put(&map, keys[8], value_of(8)), 0);
  assert_int_equal(map.capacity, 32);
  pn_map_free(&map);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(an_empty_map_finds_nothing),
      cmocka_unit_test(put_get_remove_and_duplicates),
      cmocka_unit_test(many_keys_grow_the_table_at_half_full),
      cmocka_unit_test(collisions_wrap_and_removal_shifts_the_run_back),
      cmocka_unit_test(churn_matches_a_reference),
      cmocka_unit_test(a_failed_growth_changes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
