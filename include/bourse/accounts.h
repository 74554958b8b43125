/*
 * accounts.h: balances per (uid, asset): available and hold, int64 counts of
 * the asset's smallest unit, with the net deposits per asset that the money
 * audit compares them with.
 *
 * Thread role: engine thread only (owned by one engine; not thread-safe).
 *
 * Storage: an open-addressing hash table (linear probing) allocated once
 * (zeroed, so untouched pages cost no memory) with room for `capacity`
 * entries at load factor <= 1/2; entries are never
 * removed or moved, so an entry index stays valid for the engine's life and
 * the hot path never allocates. A full table is an error the caller reports
 * (ENGINE_CODE_CAPACITY), never a resize.
 *
 * Overflow: deposits are refused when the asset's net deposits would exceed
 * INT64_MAX. Every other operation only moves existing funds, so with the
 * audit invariant (sum of all balances of an asset == its net deposits) no
 * balance can overflow; each add is still checked and a failure reported.
 *
 * Change tracking: every entry a mutator touches is put on a dirty list with
 * its values before the first touch, so the engine can emit one balance
 * event per changed (uid, asset) at the end of a command (accounts_flush).
 */
#ifndef BOURSE_ACCOUNTS_H
#define BOURSE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCOUNTS_NONE UINT32_MAX

typedef struct account {
  uint64_t uid; /* 0 marks an empty slot (user ids start at 1) */
  uint32_t asset;
  uint32_t dirty; /* 1 + position in the dirty list, 0 = untouched this command */
  int64_t available;
  int64_t hold;
} account;

typedef struct accounts_dirty {
  uint32_t index;
  int64_t available, hold; /* before the command touched it */
} accounts_dirty;

typedef struct accounts {
  account *slots;
  uint64_t mask;
  uint32_t capacity; /* entries allowed */
  uint32_t count;    /* entries used */
  unsigned asset_count;
  int64_t *net; /* per asset: deposits - withdrawals */
  accounts_dirty *dirty;
  uint32_t dirty_count;
} accounts;

/* Allocates a table for `capacity` entries over `asset_count` assets. Returns 0 or -1 (memory). */
int accounts_init(accounts *a, uint32_t capacity, unsigned asset_count);

/* Frees what accounts_init allocated. */
void accounts_free(accounts *a);

/* Index of the entry for (uid, asset), or ACCOUNTS_NONE. */
uint32_t accounts_find(const accounts *a, uint64_t uid, unsigned asset);

/*
 * Index of the entry for (uid, asset), created at zero if missing;
 * ACCOUNTS_NONE when the table is full or uid is 0.
 */
uint32_t accounts_get(accounts *a, uint64_t uid, unsigned asset);

/* The entry at `index`. */
static inline account *accounts_at(const accounts *a, uint32_t index) {
  return &a->slots[index];
}

/* Available of (uid, asset), 0 if the pair has no entry. */
int64_t accounts_available(const accounts *a, uint64_t uid, unsigned asset);

/*
 * Adds `amount` (> 0) to available, from outside the exchange. Returns 0, or
 * -1 (nothing changed) when the asset's net deposits would pass INT64_MAX.
 */
int accounts_deposit(accounts *a, uint32_t index, int64_t amount);

/* Takes `amount` (> 0) out of available. Returns 0, or -1 (nothing changed) if above available. */
int accounts_withdraw(accounts *a, uint32_t index, int64_t amount);

/* Moves `amount` (>= 0) from available to hold. Returns 0, or -1 (nothing changed) if above
 * available. */
int accounts_hold(accounts *a, uint32_t index, int64_t amount);

/* Moves `amount` (>= 0) from hold back to available. Returns 0, or -1 if above hold. */
int accounts_release(accounts *a, uint32_t index, int64_t amount);

/* Removes `amount` (>= 0) from hold: funds paid to a counterparty. Returns 0, or -1 if above hold.
 */
int accounts_take_hold(accounts *a, uint32_t index, int64_t amount);

/* Adds `amount` (>= 0) to available: funds received from a counterparty. Returns 0 or -1
 * (overflow). */
int accounts_credit(accounts *a, uint32_t index, int64_t amount);

/*
 * Calls fn for every entry touched since the last flush whose available or
 * hold differs from its value before, in first-touch order; then forgets them.
 */
typedef void accounts_changed_fn(void *ctx, const account *entry);
void accounts_flush(accounts *a, accounts_changed_fn *fn, void *ctx);

/*
 * The money audit: for every asset, sum(available + hold) over all entries
 * equals net deposits, and no balance is negative. Returns 0, or -1 with the
 * first asset that fails described in err.
 */
int accounts_audit(const accounts *a, char *err, size_t errlen);

#endif
