/*
 * main.c: the bourse server process. Runs on the main thread, which loads the
 * configuration, starts every other thread, sleeps until SIGINT/SIGTERM/SIGHUP
 * and then stops them in order.
 */
#include "bourse/broadcast.h"
#include "bourse/config.h"
#include "bourse/engine_host.h"
#include "bourse/log.h"
#include "bourse/net.h"
#include "bourse/proto.h"
#include "bourse/thread.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
    "usage: bourse [--config FILE] [--check-config] [--print-config] [--version] [--help]\n"
    "\n"
    "  -c, --config FILE   configuration file (default: $BOURSE_CONFIG, else conf/bourse.conf)\n"
    "      --check-config  load and validate the configuration, then exit (0 = valid)\n"
    "      --print-config  print the effective configuration as INI, then exit\n"
    "  -v, --version       print the version and exit\n"
    "  -h, --help          this text\n"
    "\n"
    "Every key can be overridden by an environment variable BOURSE_<SECTION>_<KEY>\n"
    "(docs/CONFIG.md). SIGINT, SIGTERM or SIGHUP stop the server cleanly (exit 0).\n";

struct options {
  const char *config_path;
  bool check_only;
  bool print_only;
};

/* Returns -1 to continue, else the exit status. */
static int parse_options(int argc, char **argv, struct options *opts) {
  enum { OPT_CHECK = 256, OPT_PRINT };
  static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                               {"check-config", no_argument, NULL, OPT_CHECK},
                                               {"print-config", no_argument, NULL, OPT_PRINT},
                                               {"version", no_argument, NULL, 'v'},
                                               {"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
  opts->config_path = getenv("BOURSE_CONFIG");
  if (!opts->config_path || !opts->config_path[0]) opts->config_path = "conf/bourse.conf";
  int c;
  while ((c = getopt_long(argc, argv, "c:vh", long_options, NULL)) != -1) {
    switch (c) {
    case 'c':
      opts->config_path = optarg;
      break;
    case OPT_CHECK:
      opts->check_only = true;
      break;
    case OPT_PRINT:
      opts->print_only = true;
      break;
    case 'v':
      printf("bourse %s\n", BOURSE_VERSION);
      return 0;
    case 'h':
      fputs(usage, stdout);
      return 0;
    default:
      fputs(usage, stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bourse: unexpected argument '%s'\n%s", argv[optind], usage);
    return 2;
  }
  return -1;
}

static log_level to_log_level(config_log_level level) {
  switch (level) {
  case CONFIG_LOG_DEBUG:
    return LOG_DEBUG;
  case CONFIG_LOG_WARN:
    return LOG_WARN;
  case CONFIG_LOG_ERROR:
    return LOG_ERROR;
  default:
    return LOG_INFO;
  }
}

static bool is_loopback(const char *address) {
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, address, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return inet_pton(AF_INET6, address, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* The admin API holds the keys to every balance: no weak token, except in a loopback demo. */
static bool admin_token_acceptable(const config *cfg, char *err, size_t errlen) {
  if (strlen(cfg->admin_token) >= 32) return true;
  if (cfg->admin_allow_no_token && is_loopback(cfg->admin_bind)) return true;
  snprintf(err, errlen,
           "[admin] token must be at least 32 characters (e.g. `openssl rand -hex 32`); "
           "allow_no_token = 1 is accepted only with a loopback [admin] bind, for development");
  return false;
}

/*
 * Raises the soft open-file limit to what the configuration can use (every io
 * thread's net.max_connections, plus listeners, eventfds, LMDB and the log),
 * within the hard limit. Debian's default soft limit is 1024: without this, a
 * server configured for 16,384 connections per thread would refuse the
 * 1,000th with EMFILE. Warns when even the hard limit is too low.
 */
static void raise_file_limit(const config *cfg) {
  rlim_t want = (rlim_t)cfg->net_io_threads * cfg->net_max_connections + 256;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t target = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < target) {
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      log_warn("cannot raise the open-file limit to %llu: %s", (unsigned long long)target,
               strerror(errno));
  }
  if (target < want)
    log_warn("the open-file limit (hard %llu) is below net.io_threads x net.max_connections + "
             "256 = %llu: connections past it are refused; raise LimitNOFILE / ulimit -Hn",
             (unsigned long long)rl.rlim_max, (unsigned long long)want);
}

int main(int argc, char **argv) {
  struct options opts = {0};
  int status = parse_options(argc, argv, &opts);
  if (status >= 0) return status;

  /* Before any thread exists, so every thread inherits the blocked mask. */
  thread_signals_block();

  static config cfg;
  char err[512];
  if (config_load(&cfg, opts.config_path, err, sizeof(err)) != 0) {
    fprintf(stderr, "bourse: %s\n", err);
    return 2;
  }
  if (opts.print_only) {
    config_print(&cfg, stdout);
    return 0;
  }
  if (opts.check_only) {
    printf("%s: valid (%u assets, %u markets, %u engine thread(s))\n", opts.config_path,
           cfg.asset_count, cfg.market_count, cfg.engine_threads);
    return 0;
  }
  if (!admin_token_acceptable(&cfg, err, sizeof(err))) {
    fprintf(stderr, "bourse: %s\n", err);
    return 2;
  }
  if (thread_cpu_for(cfg.cpu_pin, "") == -2) {
    fprintf(stderr, "bourse: [cpu] pin '%s' is not a list of name:cpu\n", cfg.cpu_pin);
    return 2;
  }

  if (log_init(to_log_level(cfg.log_level), cfg.log_file) != 0) {
    fprintf(stderr, "bourse: cannot open log file '%s': %s\n", cfg.log_file, strerror(errno));
    return 1;
  }
  printf("# bourse %s, effective configuration from %s\n", BOURSE_VERSION, opts.config_path);
  config_print_redacted(&cfg, stdout);
  fflush(stdout);
  log_info("bourse %s starting: %u assets, %u markets, %u engine thread(s)", BOURSE_VERSION,
           cfg.asset_count, cfg.market_count, cfg.engine_threads);
  raise_file_limit(&cfg);

  static proto_shared shared;
  /* 16384 slots each way: about 80 ms of a stalled engine at 200k commands/s. */
  engine_host *host = engine_host_create(&cfg, cfg.net_io_threads, 16384, err, sizeof(err));
  broadcast *market_data =
      host ? broadcast_create(&cfg, cfg.net_io_threads, err, sizeof(err)) : NULL;
  if (!host || !market_data ||
      proto_shared_init(&shared, &cfg, host, market_data, err, sizeof(err)) != 0) {
    log_error("%s", err);
    fprintf(stderr, "bourse: %s\n", err);
    broadcast_destroy(market_data);
    engine_host_destroy(host);
    log_shutdown();
    return 1;
  }
  engine_host_set_feed(host, broadcast_engine_ring(market_data), broadcast_waiter(market_data));
  static const net_dialect *const dialects[] = {&proto_native_dialect};
  const net_listener_spec listeners[] = {
      {.name = "client",
       .bind = cfg.net_bind,
       .port = cfg.net_port,
       .every_thread = true,
       .dialects = dialects,
       .dialect_count = 1,
       .routes = proto_client_routes,
       .route_count = proto_client_route_count,
       .per_ip_limits = true},
      {.name = "admin",
       .bind = cfg.admin_bind,
       .port = cfg.admin_port,
       .every_thread = false,
       .routes = proto_admin_routes,
       .route_count = proto_admin_route_count,
       .bearer_token = cfg.admin_token},
  };
  net_server *server = net_server_create(&cfg, listeners, 2, err, sizeof(err));
  int cpu = thread_cpu_for(cfg.cpu_pin, "engine-0");
  int started = -1;
  if (server) {
    net_thread_hooks hooks = proto_thread_hooks(&shared);
    net_server_set_hooks(server, &hooks);
    for (unsigned i = 0; i < cfg.net_io_threads; i++) {
      engine_host_set_io_waiter(host, i, net_server_waiter(server, i));
      broadcast_set_io_waiter(market_data, i, net_server_waiter(server, i));
    }
    int broadcast_cpu = thread_cpu_for(cfg.cpu_pin, "broadcast");
    started = broadcast_start(market_data, broadcast_cpu < 0 ? -1 : broadcast_cpu);
    if (started == 0) {
      started = engine_host_start(host, cpu < 0 ? -1 : cpu);
      if (started != 0) broadcast_stop(market_data);
    }
    if (started != 0)
      snprintf(err, sizeof(err), "cannot start the engine thread: %s", strerror(started));
  }
  if (!server || started != 0 || net_server_start(server, err, sizeof(err)) != 0) {
    log_error("%s", err);
    fprintf(stderr, "bourse: %s\n", err);
    if (server) net_server_stop(server);
    if (started == 0) {
      engine_host_stop(host);
      broadcast_stop(market_data);
    }
    net_server_destroy(server);
    broadcast_destroy(market_data);
    proto_shared_free(&shared);
    engine_host_destroy(host);
    log_shutdown();
    return 1;
  }
  log_info("ready: clients on %s:%u (WebSocket /ws, GET /health, GET /metrics), admin API on "
           "%s:%u%s; waiting for SIGINT or SIGTERM",
           cfg.net_bind, net_server_port(server, 0), cfg.admin_bind, net_server_port(server, 1),
           cfg.admin_token[0] ? "" : " WITHOUT A TOKEN (allow_no_token, loopback only)");

  int signo = thread_signals_wait();
  log_info("received %s: shutting down", strsignal(signo));
  net_server_stop(server); /* io threads first: nothing new reaches the engine */
  engine_host_stop(host);
  broadcast_stop(market_data);
  net_server_destroy(server); /* neither engine nor broadcast notifies io threads now */
  broadcast_destroy(market_data);
  proto_shared_free(&shared);
  engine_host_destroy(host);
  log_info("stopped cleanly");
  log_shutdown();
  return 0;
}
