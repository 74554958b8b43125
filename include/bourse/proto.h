/*
 * proto.h: the dialects bourse speaks over WebSocket, and the HTTP routes of
 * the client port. Each dialect is a net_dialect (include/bourse/net.h): a
 * URL path and a table of callbacks; adding one touches neither net/ nor the
 * engine.
 *
 * Runs on the io threads.
 */
#ifndef BOURSE_PROTO_H
#define BOURSE_PROTO_H

#include "bourse/auth.h"
#include "bourse/engine_host.h"
#include "bourse/net.h"

/*
 * What every io thread's dialects share, set up by main before the io
 * threads start and read-only afterwards: the engine, the API-key store, the
 * JWT verification settings.
 */
typedef struct proto_shared {
  const config *cfg;
  engine_host *engine;
  struct broadcast *broadcast;                /* market data */
  _Atomic(struct proto_thread *) threads[64]; /* each io thread's state, set by its init hook */
  auth_apikey_store *keys;
  auth_jwt_config jwt;
} proto_shared;

/*
 * Opens the API-key store under cfg->data_dir/auth and loads the [auth] JWT
 * settings. Returns 0, or -1 with a reason in err.
 */
int proto_shared_init(proto_shared *s, const config *cfg, engine_host *host,
                      struct broadcast *market_data, char *err, size_t errlen);
void proto_shared_free(proto_shared *s);

/* The io thread hooks (per-thread state, draining engine events) for net_server_set_hooks. */
net_thread_hooks proto_thread_hooks(proto_shared *s);

/* The native protocol on /ws (shared/spec/PROTOCOL.md). */
extern const net_dialect proto_native_dialect;

/* Routes of the client port: GET /health, GET /metrics. */
extern const net_route proto_client_routes[];
extern const unsigned proto_client_route_count;

/* Routes of the admin port (behind admin.token): deposits, withdrawals, balances, API keys,
 * TOTP, market halt/resume, /v1/publish, and /health, /metrics (proto/admin.c). */
extern const net_route proto_admin_routes[];
extern const unsigned proto_admin_route_count;

/* Native error codes (PROTOCOL.md). */
enum {
  PROTO_ERR_BAD_JSON = 1001,
  PROTO_ERR_UNKNOWN_OP = 1002,
  PROTO_ERR_BAD_FIELD = 1003,
  PROTO_ERR_UNKNOWN_CHANNEL = 2001,
  PROTO_ERR_TOO_MANY_SUBSCRIPTIONS = 2002,
  PROTO_ERR_AUTH_REQUIRED = 2003,
  PROTO_ERR_PERMISSION = 3004,
  PROTO_ERR_RATE_LIMITED = 5001,
  PROTO_ERR_BUSY = 9002,
};

#endif
