/*
 * tcp_fanout_bench: what the kernel alone allows for fan-out over loopback TCP
 * on this machine, with no server logic at all: the floor under any fan-out
 * server measured here (bourse, nginx + nchan, ...).
 *
 * Two processes, as a server and its subscribers would be: a sender (the
 * child) accepts N connections; the receiver (the parent) opens them and
 * reads every one with a multishot recv into a provided-buffer ring, the way
 * bourse-load does. The sender writes the same 64-byte message (a WebSocket
 * text frame header and a stamp) to every connection with io_uring sends
 * submitted in batches of up to 4096, the way bourse's io thread does.
 *
 * (a) burst: one message to all N connections at once (one publication to a
 *     channel with N subscribers). The receiver records, per message, receive
 *     time - the time the sender started the burst. Prints, as medians over
 *     the repetitions, the burst's p50, p99 and last arrival: no server can
 *     deliver a single-channel publication to N subscribers faster than this
 *     on this machine (every server pays the same TCP path per message).
 * (b) flat out: the sender sends rounds (one message to each connection)
 *     back to back for S seconds; prints messages/s received and the CPU time
 *     per message of each process (user + system, from getrusage): the
 *     kernel's price of one delivered message on each side of loopback. Run
 *     twice: with the receiver sleeping in io_uring_enter when it has nothing
 *     (as clients do: then the sender's send also pays for waking it), and
 *     with the receiver polling its completion queue (no wake-ups).
 *
 * On loopback the sender's send also runs the receiving socket's TCP input
 * (softirq in the sender's context), so the sender's CPU per message is about
 * twice what it would be sending to a NIC.
 *
 * Usage: tcp_fanout_bench [connections] [seconds] [bursts]
 * (defaults 10000, 3, 15). Each process holds N sockets (the sender the
 * accepted ends, the receiver the connected ones), so 10000 fits a 20000-file
 * limit.
 */
#include "bourse/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG_BYTES  64
#define BATCH      4096
#define BUF_COUNT  4096
#define BUF_SIZE   4096
#define MAX_BURSTS 101

enum { CMD_BURST = 'b', CMD_FLAT = 'f', CMD_QUIT = 'q' };

static void die(const char *what) {
  fprintf(stderr, "tcp_fanout_bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void write_all(int fd, const void *p, size_t n) {
  if (write(fd, p, n) != (ssize_t)n) die("pipe write");
}

static void read_all(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r <= 0) die("pipe read");
    got += (size_t)r;
  }
}

static void ring_init(struct io_uring *ring, unsigned cq) {
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  p.cq_entries = cq;
  int rc = io_uring_queue_init_params(BATCH, ring, &p);
  if (rc < 0) {
    errno = -rc;
    die("io_uring_queue_init");
  }
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------- sender */

/* One message to each of the n connections; returns when every send completed. */
static void send_round(struct io_uring *ring, const int *fds, unsigned n, uint8_t *msg) {
  uint64_t stamp = clock_mono_ns();
  memcpy(msg + 2, &stamp, sizeof(stamp));
  unsigned queued = 0, done = 0;
  while (done < n) {
    while (queued < n) {
      struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
      if (!sqe) break;
      io_uring_prep_send(sqe, fds[queued], msg, MSG_BYTES, MSG_NOSIGNAL);
      queued++;
    }
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait(ring, 1);
    unsigned head, k = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      if (cqe->res != MSG_BYTES) {
        fprintf(stderr, "tcp_fanout_bench: send returned %d\n", cqe->res);
        exit(1);
      }
      k++;
    }
    io_uring_cq_advance(ring, k);
    done += k;
  }
}

static void sender(int listen_fd, unsigned n, int cmd_in, int ack_out) {
  int *fds = calloc(n, sizeof(int));
  if (!fds) die("calloc");
  for (unsigned i = 0; i < n; i++) {
    fds[i] = accept(listen_fd, NULL, NULL);
    if (fds[i] < 0) die("accept");
    int one = 1;
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  struct io_uring ring;
  ring_init(&ring, 2 * BATCH);
  uint8_t msg[MSG_BYTES];
  memset(msg, 'x', sizeof(msg));
  msg[0] = 0x81; /* FIN + text */
  msg[1] = MSG_BYTES - 2;
  write_all(ack_out, "r", 1);
  for (;;) {
    char cmd;
    read_all(cmd_in, &cmd, 1);
    if (cmd == CMD_QUIT) break;
    if (cmd == CMD_BURST) {
      send_round(&ring, fds, n, msg);
    } else if (cmd == CMD_FLAT) {
      uint64_t until;
      read_all(cmd_in, &until, sizeof(until));
      double cpu0 = cpu_s();
      uint64_t rounds = 0;
      while (clock_mono_ns() < until) {
        send_round(&ring, fds, n, msg);
        rounds++;
      }
      double cpu = cpu_s() - cpu0;
      write_all(ack_out, &rounds, sizeof(rounds));
      write_all(ack_out, &cpu, sizeof(cpu));
    }
  }
  io_uring_queue_exit(&ring);
  exit(0);
}

/* ----------------------------------------------------------- receiver */

typedef struct receiver {
  struct io_uring ring;
  struct io_uring_buf_ring *br;
  uint8_t *bufs;
  unsigned returned;
  int *fds;
  uint32_t *partial; /* bytes of an incomplete message held per connection */
  unsigned n;
  uint64_t messages;
  uint64_t *lat; /* per-message latencies of a burst */
  uint64_t lat_count, lat_cap;
  bool poll; /* poll the completion queue instead of sleeping in io_uring_enter */
} receiver;

static void arm_recv(receiver *r, unsigned i) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    io_uring_submit(&r->ring);
    sqe = io_uring_get_sqe(&r->ring);
  }
  io_uring_prep_recv_multishot(sqe, r->fds[i], NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, i);
}

static void give_buffer(receiver *r, unsigned bid) {
  io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                        io_uring_buf_ring_mask(BUF_COUNT), (int)r->returned);
  r->returned++;
}

/* Counts the messages in one received chunk and, in a burst, their latency. */
static void on_bytes(receiver *r, unsigned i, const uint8_t *p, uint32_t len, uint64_t now) {
  uint32_t skip = r->partial[i] ? MSG_BYTES - r->partial[i] : 0;
  if (skip > len) skip = len;
  if (skip) r->messages++;
  for (uint32_t off = skip; off + MSG_BYTES <= len; off += MSG_BYTES) {
    r->messages++;
    if (r->lat && r->lat_count < r->lat_cap) {
      uint64_t stamp;
      memcpy(&stamp, p + off + 2, sizeof(stamp));
      r->lat[r->lat_count++] = now > stamp ? now - stamp : 0;
    }
  }
  r->partial[i] = (r->partial[i] + len) % MSG_BYTES;
}

/* Handles completions until `want` messages have arrived or `deadline` passes. */
static void receive_until(receiver *r, uint64_t want, uint64_t deadline) {
  while (r->messages < want) {
    uint64_t now = clock_mono_ns();
    if (now >= deadline) return;
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
    struct io_uring_cqe *cqe;
    if (r->poll) { /* never sleep: the sender's sends wake nobody */
      io_uring_submit(&r->ring);
      io_uring_get_events(&r->ring);
    } else {
      io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
    }
    now = clock_mono_ns();
    unsigned head, k = 0;
    io_uring_for_each_cqe(&r->ring, head, cqe) {
      k++;
      unsigned i = (unsigned)cqe->user_data;
      if (cqe->res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        on_bytes(r, i, r->bufs + (size_t)bid * BUF_SIZE, (uint32_t)cqe->res, now);
        give_buffer(r, bid);
      } else if (cqe->res != -ENOBUFS) {
        fprintf(stderr, "tcp_fanout_bench: recv returned %d\n", cqe->res);
        exit(1);
      }
      if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(r, i);
    }
    io_uring_cq_advance(&r->ring, k);
    io_uring_buf_ring_advance(r->br, (int)r->returned);
    r->returned = 0;
  }
}

static void receiver_init(receiver *r, unsigned n, uint16_t port) {
  memset(r, 0, sizeof(*r));
  r->n = n;
  r->fds = calloc(n, sizeof(int));
  r->partial = calloc(n, sizeof(uint32_t));
  if (!r->fds || !r->partial) die("calloc");
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  for (unsigned i = 0; i < n; i++) {
    r->fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (r->fds[i] < 0) die("socket");
    /* spread the source address so 2N ephemeral ports are not needed from one */
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = 0};
    from.sin_addr.s_addr = htonl(0x7f000002u + (i % 4));
    if (bind(r->fds[i], (struct sockaddr *)&from, sizeof(from)) != 0) die("bind");
    if (connect(r->fds[i], (struct sockaddr *)&to, sizeof(to)) != 0) die("connect");
  }
  ring_init(&r->ring, 4 * n + BATCH);
  size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
  r->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  r->bufs = malloc((size_t)BUF_COUNT * BUF_SIZE);
  if (r->br == MAP_FAILED || !r->bufs) die("buffers");
  struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)r->br, .ring_entries = BUF_COUNT};
  int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
  if (rc != 0) {
    errno = -rc;
    die("io_uring_register_buf_ring");
  }
  io_uring_buf_ring_init(r->br);
  for (unsigned b = 0; b < BUF_COUNT; b++) give_buffer(r, b);
  io_uring_buf_ring_advance(r->br, (int)r->returned);
  r->returned = 0;
  for (unsigned i = 0; i < n; i++) arm_recv(r, i);
  io_uring_submit(&r->ring);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* (b): rounds back to back for `seconds`; prints messages/s and CPU per message. */
static void flat_out(receiver *r, int cmd_out, int ack_in, double seconds, bool poll) {
  r->poll = poll;
  unsigned n = r->n;
  uint64_t start_msgs = r->messages;
  uint64_t until = clock_mono_ns() + (uint64_t)(seconds * 1e9);
  double cpu0 = cpu_s();
  uint64_t t0 = clock_mono_ns();
  write_all(cmd_out, &(char){CMD_FLAT}, 1);
  write_all(cmd_out, &until, sizeof(until));
  receive_until(r, UINT64_MAX, until);
  uint64_t rounds;
  double sender_cpu;
  read_all(ack_in, &rounds, sizeof(rounds));
  read_all(ack_in, &sender_cpu, sizeof(sender_cpu));
  /* what was sent in the window still arrives: count it, the rate uses the arrival time */
  receive_until(r, start_msgs + rounds * n, clock_mono_ns() + 5 * UINT64_C(1000000000));
  double elapsed = (double)(clock_mono_ns() - t0) / 1e9;
  double recv_cpu = cpu_s() - cpu0;
  uint64_t got = r->messages - start_msgs;
  double sender_us = sender_cpu * 1e6 / (double)(rounds * n);
  double recv_us = recv_cpu * 1e6 / (double)got;
  printf("(b) flat out for %.1f s, receiver %s:\n"
         "    %.0f messages/s received (%llu of %llu sent); CPU per message: sender %.2f us,\n"
         "    receiver %.2f us (user + system), %.2f us both\n",
         seconds, poll ? "polling (never sleeps)" : "sleeping when idle (as clients do)",
         (double)got / elapsed, (unsigned long long)got, (unsigned long long)(rounds * n),
         sender_us, recv_us, sender_us + recv_us);
  r->poll = false;
}

int main(int argc, char **argv) {
  unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
  double seconds = argc > 2 ? strtod(argv[2], NULL) : 3;
  unsigned bursts = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 15;
  if (n < 1 || n > 100000 || seconds <= 0 || seconds > 60 || bursts < 1 || bursts > MAX_BURSTS) {
    fprintf(stderr, "usage: tcp_fanout_bench [connections 1..100000] [seconds] [bursts 1..%d]\n",
            MAX_BURSTS);
    return 2;
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n + 64) {
    fprintf(stderr, "tcp_fanout_bench: open-file limit %llu is below %u connections + 64\n",
            (unsigned long long)rl.rlim_cur, n);
    return 2;
  }
  int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t alen = sizeof(addr);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      listen(listen_fd, 4096) != 0 || getsockname(listen_fd, (struct sockaddr *)&addr, &alen) != 0)
    die("listen");
  int cmd[2], ack[2];
  if (pipe(cmd) != 0 || pipe(ack) != 0) die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(cmd[1]);
    close(ack[0]);
    sender(listen_fd, n, cmd[0], ack[1]);
  }
  close(listen_fd);
  close(cmd[0]);
  close(ack[1]);
  receiver r;
  receiver_init(&r, n, ntohs(addr.sin_port));
  char ready;
  read_all(ack[0], &ready, 1);

  printf("tcp_fanout_bench: %u loopback TCP connections, %d-byte messages, sender and receiver\n"
         "in two processes, io_uring sends in batches of %d, multishot recv (no server logic)\n",
         n, MSG_BYTES, BATCH);

  /* (a) bursts */
  r.lat_cap = n;
  r.lat = malloc(n * sizeof(uint64_t));
  if (!r.lat) die("malloc");
  double p50[MAX_BURSTS], p99[MAX_BURSTS], last[MAX_BURSTS];
  for (unsigned b = 0; b < bursts; b++) {
    r.lat_count = 0;
    uint64_t want = r.messages + n;
    write_all(cmd[1], &(char){CMD_BURST}, 1);
    receive_until(&r, want, clock_mono_ns() + 10 * UINT64_C(1000000000));
    if (r.messages < want || r.lat_count < n) {
      fprintf(stderr, "tcp_fanout_bench: burst %u incomplete (%llu of %u)\n", b,
              (unsigned long long)r.lat_count, n);
      return 1;
    }
    qsort(r.lat, n, sizeof(uint64_t), cmp_u64);
    p50[b] = (double)r.lat[n / 2] / 1e6;
    p99[b] = (double)r.lat[(size_t)((double)n * 0.99)] / 1e6;
    last[b] = (double)r.lat[n - 1] / 1e6;
    usleep(20000);
  }
  printf("(a) one message to all %u at once, median of %u bursts:\n"
         "    p50 %.2f ms  p99 %.2f ms  last %.2f ms  (%.2f us per message at the last)\n",
         n, bursts, median(p50, bursts), median(p99, bursts), median(last, bursts),
         median(last, bursts) * 1e3 / n);
  free(r.lat);
  r.lat = NULL;

  flat_out(&r, cmd[1], ack[0], seconds, false);
  flat_out(&r, cmd[1], ack[0], seconds, true);
  write_all(cmd[1], &(char){CMD_QUIT}, 1);
  int status;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
