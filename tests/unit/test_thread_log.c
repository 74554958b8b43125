/* test_thread_log.c: named threads, pinning specs and the non-blocking logger. */
#include "bourse/log.h"
#include "bourse/thread.h"
#include "check.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

static void test_cpu_spec(void) {
  CHECK_EQ_INT(thread_cpu_for("", "engine-0"), -1);
  CHECK_EQ_INT(thread_cpu_for("engine-*:1,io-0:0", "engine-3"), 1);
  CHECK_EQ_INT(thread_cpu_for("engine-*:1,io-0:0", "io-0"), 0);
  CHECK_EQ_INT(thread_cpu_for("engine-*:1,io-0:0", "io-1"), -1);
  CHECK_EQ_INT(thread_cpu_for("io-0:0", "io-01"), -1);
  CHECK_EQ_INT(thread_cpu_for("log:1,log:0", "log"), 1); /* first match wins */
  CHECK_EQ_INT(thread_cpu_for("engine", "engine"), -2);
  CHECK_EQ_INT(thread_cpu_for("engine:1,", "engine-0"), -2);
  CHECK_EQ_INT(thread_cpu_for("engine:1,,io:0", "engine-0"), -2);
  CHECK_EQ_INT(thread_cpu_for("engine:1", "engine-7"), 1); /* a role matches its threads */
  CHECK_EQ_INT(thread_cpu_for("engine:1", "engines"), -1);
  CHECK_EQ_INT(thread_cpu_for("io:0,engine-2:1", "engine-2"), 1);
  CHECK_EQ_INT(thread_cpu_for("engine:", "engine"), -2);
  CHECK_EQ_INT(thread_cpu_for(":1", "engine"), -2);
  CHECK_EQ_INT(thread_cpu_for("engine:x", "engine"), -2);
}

struct named {
  char seen[16];
  int cpu;
};

static void record_name(void *arg) {
  struct named *n = arg;
  pthread_getname_np(pthread_self(), n->seen, sizeof(n->seen));
  n->cpu = sched_getcpu();
  log_info("hello from %s", log_thread_name());
}

static void test_named_pinned_thread(void) {
  struct named n = {.cpu = -1};
  thread_handle t;
  CHECK_EQ_INT(thread_start(&t, "worker-with-a-long-name", 0, record_name, &n), 0);
  CHECK_EQ_INT(thread_join(&t), 0);
  CHECK_EQ_STR(n.seen, "worker-with-a-l");
  CHECK_EQ_INT(n.cpu, 0);
  CHECK_EQ_INT(thread_start(&t, "bad-cpu", 4096, record_name, &n), EINVAL);
}

static void flood(void *arg) {
  int lines = *(int *)arg;
  for (int i = 0; i < lines; i++) log_info("line %d of the flood", i);
}

static int count_lines(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[1024];
  int count = 0;
  while (fgets(line, sizeof(line), f))
    if (strstr(line, needle)) count++;
  fclose(f);
  return count;
}

static void test_logger_writes_and_drops_without_blocking(void) {
  char path[] = "/tmp/bourse-log-test-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  CHECK_EQ_INT(log_init(LOG_INFO, path), 0);
  log_debug("not shown %d", 1);
  log_warn("from main: %s", "sync path");

  struct named n = {.cpu = -1};
  thread_handle t;
  CHECK_EQ_INT(thread_start(&t, "greeter", -1, record_name, &n), 0);
  thread_join(&t);

  /* 200000 lines into a 256-slot ring: the writer never waits, so some are
   * dropped, and written + dropped accounts for every line. */
  int lines = 200000;
  CHECK_EQ_INT(thread_start(&t, "flooder", -1, flood, &lines), 0);
  thread_join(&t);
  log_shutdown();

  CHECK_EQ_INT(count_lines(path, "not shown"), 0);
  CHECK_EQ_INT(count_lines(path, "WARN  [main] from main: sync path"), 1);
  CHECK_EQ_INT(count_lines(path, "INFO  [greeter] hello from greeter"), 1);
  int written = count_lines(path, "[flooder] line ");
  CHECK(written > 0);
  CHECK_EQ_INT((uint64_t)written + log_dropped(), (uint64_t)lines);
  printf("flood: %d written, %llu dropped\n", written, (unsigned long long)log_dropped());
  unlink(path);
}

int main(void) {
  test_cpu_spec();
  test_named_pinned_thread();
  test_logger_writes_and_drops_without_blocking();
  return check_report("thread_log");
}
