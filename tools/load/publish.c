/*
 * publish.c: the publisher of the subscribe scenario: one extra thread that
 * posts --publish-rate publications per second to --admin-url over one
 * keep-alive HTTP/1.1 connection, pipelined (up to --publish-pipeline
 * requests outstanding), from the start of the warmup to the end of the
 * window. Runs on its own thread; touches only its load_publisher and reads
 * the phase timestamps of load_shared.
 *
 * Publication k (from 0) has a fixed intended time, warmup start + k /
 * (rate x K), and carries it as its stamp "t" (ns since the epoch): the
 * subscribers measure delivery latency from it, so a late publisher or a
 * server slow to take the request shows up as latency, not as a lower rate.
 * With --spread K it goes to group k % K (every %k of the channel or path
 * replaced by that number): each channel gets --publish-rate publications/s,
 * and the groups' publications are evenly staggered in time. Bodies:
 *  - bourse: {"channel":"<ch>","data":{"t":<ns>,"n":<k>}} to /v1/publish;
 *  - --raw (nchan and the like): {"t":<ns>,"n":<k>} to --publish-path.
 * --publish-pad adds a "pad" string of that many bytes to the data.
 *
 * Why a hand-written HTTP client rather than libcurl: one connection to a
 * loopback port, requests with Content-Length, responses with
 * Content-Length; pipelining is a matter of writing before reading. It uses
 * poll with a sub-millisecond timeout to wake at the intended times.
 */
#include "bourse/clock.h"
#include "load.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PUBLISH_SEND_CAP (256 * 1024)
#define PUBLISH_RECV_CAP (64 * 1024)
/* longest sleep while the pipeline is full (a response ends it sooner) */
#define PUBLISH_FULL_WAIT_NS 1000000
/* intended times of outstanding requests, a ring; a power of two */
#define PUBLISH_RING 4096

typedef struct publisher_io {
  int fd;
  char *out;
  size_t out_len;
  char *in;
  size_t in_len;
  uint64_t intended[PUBLISH_RING];
  uint64_t head, tail; /* requests sent: tail; answered: head */
  char pad[1024];
} publisher_io;

static void note_error(load_publish_stats *st, int status, const char *text, size_t len) {
  st->last_status = status;
  if (len >= sizeof(st->last_error)) len = sizeof(st->last_error) - 1;
  memcpy(st->last_error, text, len);
  st->last_error[len] = 0;
}

static int connect_admin(const load_orders_options *o, load_publish_stats *st) {
  int fd = socket(o->admin_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (const struct sockaddr *)&o->admin_addr, o->admin_addr_len) != 0) {
    char why[160];
    int n = snprintf(why, sizeof(why), "cannot connect to %s: %s", o->admin_url, strerror(errno));
    note_error(st, 0, why, (size_t)n);
    close(fd);
    return -1;
  }
  return fd;
}

/* Writes tpl expanded with group into out (cap bytes), NUL-terminated. */
static bool expand_group(const load_template *tpl, uint32_t group, char *out, size_t cap) {
  if (load_template_length(tpl, group) >= cap) return false;
  load_template_expand(tpl, group, out);
  out[load_template_length(tpl, group)] = 0;
  return true;
}

/* Appends publication k (numbered from 1; intended at mono ns `intended`)
 * to io->out, for the channel of `group`. */
static bool compose(load_publisher *p, publisher_io *io, uint64_t k, uint32_t group,
                    uint64_t intended) {
  const load_options *opt = p->opt;
  const load_subscribe_options *s = &opt->subscribe;
  char body[1400], channel[160], path[2100];
  if ((!s->raw && !expand_group(&s->publish_channel_tpl, group, channel, sizeof(channel))) ||
      !expand_group(&s->publish_path_tpl, group, path, sizeof(path)))
    return false;
  uint64_t stamp = (uint64_t)((int64_t)intended + p->shared->wall_offset_ns);
  int n;
  const char *pad_open = s->publish_pad ? ",\"pad\":\"" : "";
  const char *pad_close = s->publish_pad ? "\"" : "";
  if (s->raw)
    n = snprintf(body, sizeof(body), "{\"t\":%llu,\"n\":%llu%s%s%s}", (unsigned long long)stamp,
                 (unsigned long long)k, pad_open, io->pad, pad_close);
  else
    n = snprintf(body, sizeof(body), "{\"channel\":\"%s\",\"data\":{\"t\":%llu,\"n\":%llu%s%s%s}}",
                 channel, (unsigned long long)stamp, (unsigned long long)k, pad_open, io->pad,
                 pad_close);
  if (n < 0 || (size_t)n >= sizeof(body)) return false;
  char auth[300] = "";
  if (opt->orders.admin_token)
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", opt->orders.admin_token);
  size_t room = PUBLISH_SEND_CAP - io->out_len;
  int m = snprintf(io->out + io->out_len, room,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   "%sContent-Length: %d\r\n\r\n%s",
                   path, opt->orders.admin_host, auth, n, body);
  if (m < 0 || (size_t)m >= room) return false;
  io->out_len += (size_t)m;
  io->intended[io->tail & (PUBLISH_RING - 1)] = intended;
  io->tail++;
  return true;
}

static int flush_out(publisher_io *io) {
  size_t off = 0;
  while (off < io->out_len) {
    ssize_t w = send(io->fd, io->out + off, io->out_len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  io->out_len = 0;
  return 0;
}

/* Accounts one complete response (status, body) to the oldest request. */
static void on_response(load_publisher *p, publisher_io *io, int status, const char *body,
                        size_t blen, uint64_t now) {
  load_publish_stats *st = &p->stats;
  if (io->head == io->tail) return; /* a response to nothing: ignore */
  uint64_t intended = io->intended[io->head & (PUBLISH_RING - 1)];
  io->head++;
  histogram_record(&st->response, now > intended ? now - intended : 0);
  if (status < 200 || status > 299) {
    st->failed++;
    note_error(st, status, body, blen);
    return;
  }
  st->ok++;
  const char *d = memmem(body, blen, "\"delivered\":", 12);
  if (d) {
    st->delivered_seen = true;
    st->delivered_sum += strtoull(d + 12, NULL, 10);
  }
}

/* Parses every complete response in io->in; -1 on a malformed one. */
static int parse_responses(load_publisher *p, publisher_io *io, uint64_t now) {
  size_t off = 0;
  for (;;) {
    char *start = io->in + off;
    size_t avail = io->in_len - off;
    char *blank = memmem(start, avail, "\r\n\r\n", 4);
    if (!blank) break;
    size_t head_len = (size_t)(blank - start) + 4;
    if (avail < 12 || memcmp(start, "HTTP/1.", 7) != 0) return -1;
    int status = atoi(start + 9);
    size_t vlen;
    const char *v = load_http_header(start, head_len, "content-length", &vlen);
    size_t body_len = v ? (size_t)strtoul(v, NULL, 10) : 0;
    if (head_len + body_len > PUBLISH_RECV_CAP) return -1;
    if (avail < head_len + body_len) break;
    on_response(p, io, status, start + head_len, body_len, now);
    off += head_len + body_len;
  }
  memmove(io->in, io->in + off, io->in_len - off);
  io->in_len -= off;
  return 0;
}

static int read_in(load_publisher *p, publisher_io *io) {
  ssize_t r = recv(io->fd, io->in + io->in_len, PUBLISH_RECV_CAP - io->in_len, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (r <= 0) {
    note_error(&p->stats, 0, "the server closed the publish connection", 40);
    return -1;
  }
  io->in_len += (size_t)r;
  return parse_responses(p, io, clock_mono_ns());
}

/* Queues every publication due by now; returns the next due time. */
static uint64_t publish_due(load_publisher *p, publisher_io *io, uint64_t *k, uint64_t traffic,
                            uint64_t measure, uint64_t end, uint64_t now) {
  const load_subscribe_options *s = &p->opt->subscribe;
  double interval = 1e9 / (s->publish_rate * s->spread); /* rate per channel, K channels */
  load_publish_stats *st = &p->stats;
  for (;;) {
    uint64_t due = traffic + (uint64_t)((double)*k * interval);
    if (due >= end) return UINT64_MAX;
    if (due > now) return due;
    if (io->tail - io->head >= s->publish_pipeline || io->tail - io->head >= PUBLISH_RING) {
      if (*k + 1 != p->late_k) st->late++; /* its stamp keeps the intended time */
      p->late_k = *k + 1;
      /* pipeline full: only a response frees a slot, and a response wakes
       * wait_io (POLLIN); a deadline of now would spin the publisher's core */
      return now + PUBLISH_FULL_WAIT_NS;
    }
    if (!compose(p, io, *k + 1, (uint32_t)(*k % s->spread), due))
      return now; /* send buffer full: flush first */
    st->sent++;
    if (due >= measure) st->sent_window++;
    (*k)++;
  }
}

static void wait_io(publisher_io *io, uint64_t now, uint64_t until) {
  struct pollfd pfd = {.fd = io->fd, .events = POLLIN};
  uint64_t wait = until > now ? until - now : 0;
  if (wait > 5000000) wait = 5000000; /* wake to watch the phases */
  struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait};
  ppoll(&pfd, 1, &ts, NULL);
}

static void run_publisher(load_publisher *p, publisher_io *io) {
  load_shared *sh = p->shared;
  uint64_t traffic;
  while ((traffic = atomic_load_explicit(&sh->traffic_ns, memory_order_acquire)) == 0) {
    if (atomic_load(&sh->workers_done) >= p->opt->threads) return;
    usleep(1000);
  }
  uint64_t k = 0;
  for (;;) {
    uint64_t now = clock_mono_ns();
    /* read the phases each round: SIGINT moves them earlier */
    uint64_t measure = atomic_load(&sh->measure_ns), end = atomic_load(&sh->end_ns);
    uint64_t drain_end = atomic_load(&sh->drain_end_ns);
    uint64_t next = publish_due(p, io, &k, traffic, measure, end, now);
    if (io->out_len && flush_out(io) != 0) {
      note_error(&p->stats, 0, "sending a publication failed", 28);
      return;
    }
    bool done_sending = next == UINT64_MAX;
    if (done_sending && io->head == io->tail) return;
    if (now >= drain_end) return;
    wait_io(io, now, done_sending ? drain_end : next);
    if (read_in(p, io) != 0) return;
  }
}

void load_publisher_main(void *arg) {
  load_publisher *p = arg;
  histogram_init(&p->stats.response);
  publisher_io *io = calloc(1, sizeof(*io));
  if (io) {
    io->out = malloc(PUBLISH_SEND_CAP);
    io->in = malloc(PUBLISH_RECV_CAP);
  }
  if (!io || !io->out || !io->in) {
    note_error(&p->stats, 0, "out of memory", 13);
  } else {
    uint32_t pad = p->opt->subscribe.publish_pad;
    if (pad >= sizeof(io->pad)) pad = sizeof(io->pad) - 1;
    memset(io->pad, 'x', pad);
    io->pad[pad] = 0;
    io->fd = connect_admin(&p->opt->orders, &p->stats);
    if (io->fd >= 0) {
      run_publisher(p, io);
      p->stats.unanswered = io->tail - io->head;
      close(io->fd);
    }
  }
  if (io) {
    free(io->out);
    free(io->in);
  }
  free(io);
}
