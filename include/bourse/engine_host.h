/*
 * engine_host.h: an engine thread with its rings: the engine core
 * (engine.h), one command ring from each io thread, one event ring to each
 * io thread, and the routing between them.
 *
 * Routing. Every event of a command goes once to each io thread that must
 * see it: the thread that sent the command (its `tag` names the thread:
 * ENGINE_HOST_TAG_IO), and every thread where a user the event concerns (the
 * order's owner, a trade's taker and maker, the balance's owner) has an
 * authenticated session. io threads announce sessions with
 * ENGINE_HOST_CMD_SESSION_OPEN/CLOSE (one per uid per thread, when its local
 * count goes 0 -> 1 and 1 -> 0). After the last event of a command, the
 * sending thread gets an ENGINE_HOST_EVENT_DONE with the command's tag.
 *
 * Backpressure: the engine never drops an event. When an io thread's event
 * ring is full the engine thread waits (yielding) until it drains; io
 * threads drain their rings every loop iteration.
 *
 * create/start/stop run on main; everything else on the engine thread.
 */
#ifndef BOURSE_ENGINE_HOST_H
#define BOURSE_ENGINE_HOST_H

#include "bourse/engine.h"
#include "bourse/engine_thread.h"
#include "bourse/ring.h"

#define ENGINE_HOST_MAX_IO 64

/* Commands the host handles itself (engine_cmd.type values the core never sees). */
enum {
  ENGINE_HOST_CMD_SESSION_OPEN = 100, /* uid has a session on the sending io thread */
  ENGINE_HOST_CMD_SESSION_CLOSE,      /* ... no longer */
  ENGINE_HOST_CMD_QUERY_ORDERS,       /* uid's open orders (market, or all with F_MARKET unset) */
  ENGINE_HOST_CMD_QUERY_BALANCES,     /* uid's balances, every asset it has */
  /* Deliver a published message (a proto_publication pointer in `amount`) to uid's sessions
   * on every other io thread; DONE's u.ack.cancelled says to how many threads it went. */
  ENGINE_HOST_CMD_PUBLISH,
  ENGINE_HOST_CMD_PUBLISH_ACK, /* an io thread delivered a publication `amount` times */
};

/* Event types the host adds (engine_event.type). */
enum {
  ENGINE_HOST_EVENT_DONE = 100,    /* the command with this tag is complete */
  ENGINE_HOST_EVENT_QUERY_ORDER,   /* one order of a QUERY_ORDERS answer (u.order) */
  ENGINE_HOST_EVENT_QUERY_BALANCE, /* one balance of a QUERY_BALANCES answer (u.balance) */
  ENGINE_HOST_EVENT_PUBLISH,       /* deliver publication u.ack.order_id (a pointer) to uid */
  ENGINE_HOST_EVENT_PUBLISH_ACK,   /* u.ack.cancelled deliveries of the tagged publication */
};

/* The io thread that sent a command is the tag's top byte. */
#define ENGINE_HOST_TAG_IO(tag)  ((unsigned)((tag) >> 56))
#define ENGINE_HOST_TAG(io, low) (((uint64_t)(io) << 56) | ((low)&0x00ffffffffffffffull))

typedef struct engine_host engine_host;

/*
 * Creates the engine for cfg (see engine_create) and rings for io_count io
 * threads (ring_slots slots each way). Returns NULL with a reason in err.
 */
engine_host *engine_host_create(const config *cfg, unsigned io_count, uint32_t ring_slots,
                                char *err, size_t errlen);

/* Sets the waiter that io thread `io` sleeps on (notified after events are pushed). */
void engine_host_set_io_waiter(engine_host *h, unsigned io, ring_waiter *w);

/* The command ring io thread `io` produces into, and the waiter to notify after. */
ring *engine_host_command_ring(engine_host *h, unsigned io);
ring_waiter *engine_host_waiter(engine_host *h);

/* The event ring io thread `io` consumes. */
ring *engine_host_event_ring(engine_host *h, unsigned io);

/*
 * Sends level and trade events (as feed_event slots) to the broadcast
 * thread's ring too, notifying `w` after each batch; turns the engine's level
 * events on. Call before engine_host_start.
 */
void engine_host_set_feed(engine_host *h, ring *feed_ring, ring_waiter *w);

/* Starts the engine thread "engine-0" (cpu < 0: not pinned). Returns 0 or an errno. */
int engine_host_start(engine_host *h, int cpu);

/* Stops the thread after it has handled every committed command; frees nothing. */
void engine_host_stop(engine_host *h);

/* Frees the engine and the rings. The thread must be stopped. */
void engine_host_destroy(engine_host *h);

/* The engine, for reads once the thread is stopped (audits, tests). */
const engine *engine_host_engine(const engine_host *h);

#endif
