/*
 * accounts.c: balances per (uid, asset); see include/bourse/accounts.h.
 * Thread role: engine thread only.
 *
 * Why hand-written: a generic hash map would allocate on insert and could
 * move entries on resize; this table is sized once and entries keep their
 * index, which the engine relies on (the fee account's entries are cached).
 */
#include "bourse/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t account_hash(uint64_t uid, unsigned asset) {
  uint64_t z = uid * 0x9e3779b97f4a7c15ull + asset;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int accounts_init(accounts *a, uint32_t capacity, unsigned asset_count) {
  memset(a, 0, sizeof *a);
  if (capacity == 0 || capacity > (UINT32_MAX >> 2) || asset_count == 0) return -1;
  uint64_t slots = 1;
  while (slots < (uint64_t)capacity * 2) slots <<= 1;
  a->slots = calloc(slots, sizeof *a->slots);
  a->net = calloc(asset_count, sizeof *a->net);
  a->dirty = malloc((size_t)capacity * sizeof *a->dirty);
  if (!a->slots || !a->net || !a->dirty) {
    accounts_free(a);
    return -1;
  }
  a->mask = slots - 1;
  a->capacity = capacity;
  a->asset_count = asset_count;
  return 0;
}

void accounts_free(accounts *a) {
  free(a->slots);
  free(a->net);
  free(a->dirty);
  memset(a, 0, sizeof *a);
}

uint32_t accounts_find(const accounts *a, uint64_t uid, unsigned asset) {
  for (uint64_t i = account_hash(uid, asset) & a->mask;; i = (i + 1) & a->mask) {
    const account *e = &a->slots[i];
    if (e->uid == 0) return ACCOUNTS_NONE;
    if (e->uid == uid && e->asset == asset) return (uint32_t)i;
  }
}

uint32_t accounts_get(accounts *a, uint64_t uid, unsigned asset) {
  if (uid == 0) return ACCOUNTS_NONE;
  for (uint64_t i = account_hash(uid, asset) & a->mask;; i = (i + 1) & a->mask) {
    account *e = &a->slots[i];
    if (e->uid == uid && e->asset == asset) return (uint32_t)i;
    if (e->uid == 0) {
      if (a->count >= a->capacity) return ACCOUNTS_NONE;
      a->count++;
      *e = (account){.uid = uid, .asset = asset};
      return (uint32_t)i;
    }
  }
}

int64_t accounts_available(const accounts *a, uint64_t uid, unsigned asset) {
  uint32_t index = accounts_find(a, uid, asset);
  return index == ACCOUNTS_NONE ? 0 : a->slots[index].available;
}

/* Records the entry's values before this command's first change to it. */
static inline account *touch(accounts *a, uint32_t index) {
  account *e = &a->slots[index];
  if (!e->dirty) {
    a->dirty[a->dirty_count] = (accounts_dirty){index, e->available, e->hold};
    e->dirty = ++a->dirty_count;
  }
  return e;
}

int accounts_deposit(accounts *a, uint32_t index, int64_t amount) {
  account *e = &a->slots[index];
  int64_t net, available;
  if (amount <= 0 || __builtin_add_overflow(a->net[e->asset], amount, &net) ||
      __builtin_add_overflow(e->available, amount, &available))
    return -1;
  touch(a, index);
  a->net[e->asset] = net;
  e->available = available;
  return 0;
}

int accounts_withdraw(accounts *a, uint32_t index, int64_t amount) {
  account *e = &a->slots[index];
  if (amount <= 0 || amount > e->available) return -1;
  touch(a, index);
  e->available -= amount;
  a->net[e->asset] -= amount;
  return 0;
}

int accounts_hold(accounts *a, uint32_t index, int64_t amount) {
  account *e = &a->slots[index];
  int64_t hold;
  if (amount < 0 || amount > e->available || __builtin_add_overflow(e->hold, amount, &hold))
    return -1;
  if (amount == 0) return 0;
  touch(a, index);
  e->available -= amount;
  e->hold = hold;
  return 0;
}

int accounts_release(accounts *a, uint32_t index, int64_t amount) {
  account *e = &a->slots[index];
  int64_t available;
  if (amount < 0 || amount > e->hold || __builtin_add_overflow(e->available, amount, &available))
    return -1;
  if (amount == 0) return 0;
  touch(a, index);
  e->hold -= amount;
  e->available = available;
  return 0;
}

int accounts_take_hold(accounts *a, uint32_t index, int64_t amount) {
  account *e = &a->slots[index];
  if (amount < 0 || amount > e->hold) return -1;
  if (amount == 0) return 0;
  touch(a, index);
  e->hold -= amount;
  return 0;
}

int accounts_credit(accounts *a, uint32_t index, int64_t amount) {
  account *e = &a->slots[index];
  int64_t available;
  if (amount < 0 || __builtin_add_overflow(e->available, amount, &available)) return -1;
  if (amount == 0) return 0;
  touch(a, index);
  e->available = available;
  return 0;
}

void accounts_flush(accounts *a, accounts_changed_fn *fn, void *ctx) {
  for (uint32_t i = 0; i < a->dirty_count; i++) {
    const accounts_dirty *d = &a->dirty[i];
    account *e = &a->slots[d->index];
    e->dirty = 0;
    if (fn && (e->available != d->available || e->hold != d->hold)) fn(ctx, e);
  }
  a->dirty_count = 0;
}

int accounts_audit(const accounts *a, char *err, size_t errlen) {
  __int128 *sums = calloc(a->asset_count, sizeof *sums);
  if (!sums) {
    snprintf(err, errlen, "accounts audit: out of memory");
    return -1;
  }
  int rc = 0;
  for (uint64_t i = 0; i <= a->mask && rc == 0; i++) {
    const account *e = &a->slots[i];
    if (e->uid == 0) continue;
    if (e->available < 0 || e->hold < 0) {
      snprintf(err, errlen, "accounts audit: uid %llu asset %u negative (%lld, %lld)",
               (unsigned long long)e->uid, e->asset, (long long)e->available, (long long)e->hold);
      rc = -1;
    }
    sums[e->asset] += (__int128)e->available + e->hold;
  }
  for (unsigned asset = 0; asset < a->asset_count && rc == 0; asset++) {
    if (sums[asset] != a->net[asset]) {
      snprintf(err, errlen, "accounts audit: asset %u balances sum to %lld, net deposits %lld",
               asset, (long long)sums[asset], (long long)a->net[asset]);
      rc = -1;
    }
  }
  free(sums);
  return rc;
}
