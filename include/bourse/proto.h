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

#include "bourse/net.h"

/* The native protocol on /ws (shared/spec/PROTOCOL.md). */
extern const net_dialect proto_native_dialect;

/* Routes of the client port: GET /health, GET /metrics. */
extern const net_route proto_client_routes[];
extern const unsigned proto_client_route_count;

/* Routes of the admin port (behind admin.token): GET /health, GET /metrics; the admin
 * operations join them with the protocol issue. */
extern const net_route proto_admin_routes[];
extern const unsigned proto_admin_route_count;

/* Native error codes (PROTOCOL.md). */
enum {
  PROTO_ERR_BAD_JSON = 1001,
  PROTO_ERR_UNKNOWN_OP = 1002,
  PROTO_ERR_BAD_FIELD = 1003,
  PROTO_ERR_RATE_LIMITED = 5001,
};

#endif
