/*
 * market.c: public market-data subscriptions on one io thread. A table of
 * (channel, connection) entries, linked per channel (to fan a frame out) and
 * per connection (to unsubscribe everything on close); the broadcast thread
 * hears about a channel's first and last subscriber on this thread only.
 * Frames from the broadcast thread are shared: each subscriber's send queue
 * takes a reference, no copy.
 *
 * Depth subscribers wait for a snapshot before diffs, and a subscriber that
 * falls behind (more than feed.lag_bytes queued) stops getting diffs until it
 * has drained to half of that, then waits for a fresh snapshot.
 *
 * Runs on the io threads.
 */
#include "proto_internal.h"

#include "bourse/log.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

enum { SUB_LIVE = 0, SUB_AWAITING, SUB_LAGGING };

struct proto_market_sub {
  uint64_t conn;
  uint32_t channel; /* market * FEED_CHANNEL_COUNT + feed_channel */
  uint32_t next_in_channel, prev_in_channel;
  uint32_t next_of_conn;
  uint8_t state;
};

#define NONE UINT32_MAX

/* A lagging subscription, rechecked every poll: it must resync even on a quiet market. */
struct proto_lagging {
  uint32_t entry;
  uint64_t conn;
};

static uint32_t channel_index(unsigned market, unsigned channel) {
  return market * FEED_CHANNEL_COUNT + channel;
}

static void tell_broadcast_frame(proto_thread *pt, uint32_t index, uint8_t op, net_shared *frame) {
  broadcast_interest in = {.market = index / FEED_CHANNEL_COUNT,
                           .channel = (uint16_t)(index % FEED_CHANNEL_COUNT),
                           .op = op,
                           .frame = frame};
  ring *r = pt->to_broadcast;
  while (ring_reserve(r, 1) == 0) sched_yield(); /* interest must not be lost; rare */
  memcpy(ring_write_slot(r, 0), &in, sizeof(in));
  ring_commit(r, 1);
  ring_waiter_notify(pt->broadcast_waiter);
}

static void tell_broadcast(proto_thread *pt, uint32_t index, uint8_t op) {
  tell_broadcast_frame(pt, index, op, NULL);
}

void proto_market_publish(proto_thread *pt, unsigned market, unsigned channel, net_shared *frame) {
  tell_broadcast_frame(pt, channel_index(market, channel), BROADCAST_PUBLISH, frame);
}

uint64_t proto_market_subscribers(const proto_shared *s, unsigned market, unsigned channel) {
  uint64_t total = 0;
  for (unsigned io = 0; io < 64; io++) {
    const proto_thread *t = atomic_load_explicit(&s->threads[io], memory_order_acquire);
    if (t && t->channel_counts)
      total += atomic_load_explicit(&t->channel_counts[channel_index(market, channel)],
                                    memory_order_relaxed);
  }
  return total;
}

static uint32_t entry_alloc(proto_thread *pt) {
  if (pt->sub_free == NONE) {
    uint32_t grown = pt->sub_capacity ? pt->sub_capacity * 2 : 4096;
    proto_market_sub *subs = realloc(pt->subs, grown * sizeof(*subs));
    if (!subs) return NONE;
    for (uint32_t i = pt->sub_capacity; i < grown; i++)
      subs[i].next_of_conn = i + 1 < grown ? i + 1 : NONE;
    pt->sub_free = pt->sub_capacity;
    pt->subs = subs;
    pt->sub_capacity = grown;
  }
  uint32_t e = pt->sub_free;
  pt->sub_free = pt->subs[e].next_of_conn;
  return e;
}

static bool is_subscribed(proto_thread *pt, const proto_conn *pc, uint32_t index) {
  for (uint32_t e = pc->market_subs; e != NONE; e = pt->subs[e].next_of_conn)
    if (pt->subs[e].channel == index) return true;
  return false;
}

int proto_market_subscribe(proto_thread *pt, net_conn *c, unsigned market, unsigned channel) {
  proto_conn *pc = net_conn_state(c);
  uint32_t index = channel_index(market, channel);
  if (is_subscribed(pt, pc, index)) return 0;
  uint32_t e = entry_alloc(pt);
  if (e == NONE) return -1;
  proto_market_sub *s = &pt->subs[e];
  s->conn = net_conn_id(c);
  s->channel = index;
  s->state = channel == FEED_CHANNEL_DEPTH ? SUB_AWAITING : SUB_LIVE;
  s->prev_in_channel = NONE;
  s->next_in_channel = pt->channel_heads[index];
  if (s->next_in_channel != NONE) pt->subs[s->next_in_channel].prev_in_channel = e;
  pt->channel_heads[index] = e;
  s->next_of_conn = pc->market_subs;
  pc->market_subs = e;
  uint32_t before = atomic_load_explicit(&pt->channel_counts[index], memory_order_relaxed);
  atomic_store_explicit(&pt->channel_counts[index], before + 1, memory_order_relaxed);
  if (before == 0) tell_broadcast(pt, index, BROADCAST_SUBSCRIBE);
  if (channel == FEED_CHANNEL_DEPTH) tell_broadcast(pt, index, BROADCAST_SNAPSHOT);
  return 1;
}

static void unlink_entry(proto_thread *pt, uint32_t e) {
  proto_market_sub *s = &pt->subs[e];
  if (s->prev_in_channel != NONE)
    pt->subs[s->prev_in_channel].next_in_channel = s->next_in_channel;
  else
    pt->channel_heads[s->channel] = s->next_in_channel;
  if (s->next_in_channel != NONE) pt->subs[s->next_in_channel].prev_in_channel = s->prev_in_channel;
  uint32_t left = atomic_load_explicit(&pt->channel_counts[s->channel], memory_order_relaxed) - 1;
  atomic_store_explicit(&pt->channel_counts[s->channel], left, memory_order_relaxed);
  if (left == 0) tell_broadcast(pt, s->channel, BROADCAST_UNSUBSCRIBE);
}

bool proto_market_unsubscribe(proto_thread *pt, net_conn *c, unsigned market, unsigned channel) {
  proto_conn *pc = net_conn_state(c);
  uint32_t index = channel_index(market, channel);
  for (uint32_t *link = &pc->market_subs; *link != NONE; link = &pt->subs[*link].next_of_conn) {
    uint32_t e = *link;
    if (pt->subs[e].channel != index) continue;
    unlink_entry(pt, e);
    *link = pt->subs[e].next_of_conn;
    pt->subs[e].next_of_conn = pt->sub_free;
    pt->sub_free = e;
    return true;
  }
  return false;
}

void proto_market_close(proto_thread *pt, net_conn *c) {
  proto_conn *pc = net_conn_state(c);
  for (uint32_t e = pc->market_subs, next; e != NONE; e = next) {
    next = pt->subs[e].next_of_conn;
    unlink_entry(pt, e);
    pt->subs[e].next_of_conn = pt->sub_free;
    pt->sub_free = e;
  }
  pc->market_subs = NONE;
}

void proto_market_list(proto_thread *pt, const proto_conn *pc, json_writer *w) {
  for (uint32_t e = pc->market_subs; e != NONE; e = pt->subs[e].next_of_conn) {
    char name[FEED_CHANNEL_NAME_MAX];
    unsigned index = pt->subs[e].channel;
    size_t n = feed_channel_name(pt->cfg, index / FEED_CHANNEL_COUNT,
                                 (feed_channel)(index % FEED_CHANNEL_COUNT), name);
    json_write_string(w, name, n);
  }
}

/* One frame from the broadcast thread to this thread's subscribers of its channel. */
static void deliver(proto_thread *pt, const broadcast_msg *m) {
  uint32_t index = channel_index(m->market, m->channel);
  size_t lag = pt->cfg->feed_lag_bytes;
  bool depth = m->channel == FEED_CHANNEL_DEPTH;
  for (uint32_t e = pt->channel_heads[index]; e != NONE; e = pt->subs[e].next_in_channel) {
    proto_market_sub *s = &pt->subs[e];
    net_conn *c = net_thread_conn(pt->net, s->conn);
    if (!c) continue;
    if (m->snapshot) {
      if (s->state != SUB_AWAITING) continue;
      s->state = SUB_LIVE;
    } else if (depth) {
      if (s->state == SUB_AWAITING) continue; /* diffs before its snapshot would overlap */
      size_t queued = net_conn_queued(c);
      if (s->state == SUB_LAGGING) {
        if (queued > lag / 2) continue;
        s->state = SUB_AWAITING; /* drained: resync with a fresh snapshot */
        tell_broadcast(pt, index, BROADCAST_SNAPSHOT);
        continue;
      }
      if (queued > lag) {
        s->state = SUB_LAGGING; /* stop queueing diffs it cannot keep up with */
        if (pt->lagging_count == pt->lagging_capacity) {
          uint32_t grown = pt->lagging_capacity ? pt->lagging_capacity * 2 : 64;
          struct proto_lagging *l = realloc(pt->lagging, grown * sizeof(*l));
          if (!l) continue; /* rechecked at its next diff instead */
          pt->lagging = l;
          pt->lagging_capacity = grown;
        }
        pt->lagging[pt->lagging_count++] = (struct proto_lagging){e, s->conn};
        continue;
      }
    }
    net_shared_ref(m->frame, 1);
    net_send_shared(c, m->frame);
  }
  net_shared_release(m->frame); /* this thread's reference */
}

/* Lagging subscribers that have drained ask for a fresh snapshot. */
static void recheck_lagging(proto_thread *pt) {
  size_t half = pt->cfg->feed_lag_bytes / 2;
  for (uint32_t i = 0; i < pt->lagging_count;) {
    struct proto_lagging l = pt->lagging[i];
    proto_market_sub *s = &pt->subs[l.entry];
    net_conn *c =
        s->conn == l.conn && s->state == SUB_LAGGING ? net_thread_conn(pt->net, l.conn) : NULL;
    if (c && net_conn_queued(c) > half) {
      i++;
      continue;
    }
    if (c) {
      s->state = SUB_AWAITING;
      tell_broadcast(pt, s->channel, BROADCAST_SNAPSHOT);
    }
    pt->lagging[i] = pt->lagging[--pt->lagging_count];
  }
}

unsigned proto_market_poll(proto_thread *pt) {
  unsigned total = 0;
  if (pt->lagging_count) recheck_lagging(pt);
  uint32_t n;
  while ((n = ring_peek(pt->from_broadcast, 256)) > 0) {
    for (uint32_t i = 0; i < n; i++) deliver(pt, ring_read_slot(pt->from_broadcast, i));
    ring_release(pt->from_broadcast, n);
    total += n;
  }
  return total;
}

int proto_market_init(proto_thread *pt) {
  size_t channels = (size_t)pt->cfg->market_count * FEED_CHANNEL_COUNT + 1;
  pt->channel_heads = malloc(channels * sizeof(uint32_t));
  pt->channel_counts = calloc(channels, sizeof(*pt->channel_counts));
  if (!pt->channel_heads || !pt->channel_counts) return -1;
  for (size_t i = 0; i < channels; i++) pt->channel_heads[i] = NONE;
  pt->sub_free = NONE;
  return 0;
}

void proto_market_free(proto_thread *pt) {
  free(pt->lagging);
  free(pt->subs);
  free(pt->channel_heads);
  free(pt->channel_counts);
}
