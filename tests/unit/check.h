/*
 * check.h: the unit-test harness. Why hand-written: the Debian C test
 * frameworks (check, cmocka) fork or allocate per test and want their own
 * runner; ctest already runs one executable per suite, so all a suite needs is
 * a check macro that names the file, line and values on failure.
 */
#ifndef BOURSE_TESTS_CHECK_H
#define BOURSE_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    check_count++;                                                                                 \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
      check_failures++;                                                                            \
    }                                                                                              \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
  do {                                                                                             \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                \
    check_count++;                                                                                 \
    if (check_a_ != check_b_) {                                                                    \
      fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, %s == %lld\n", __FILE__, __LINE__,  \
              #a, check_a_, #b, check_b_);                                                         \
      check_failures++;                                                                            \
    }                                                                                              \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
  do {                                                                                             \
    const char *check_a_ = (a), *check_b_ = (b);                                                   \
    check_count++;                                                                                 \
    if (strcmp(check_a_, check_b_) != 0) {                                                         \
      fprintf(stderr, "%s:%d: CHECK_EQ_STR failed: %s == \"%s\", expected \"%s\"\n", __FILE__,     \
              __LINE__, #a, check_a_, check_b_);                                                   \
      check_failures++;                                                                            \
    }                                                                                              \
  } while (0)

/* Ends a suite: prints a one-line summary, returns the process exit status. */
static inline int check_report(const char *suite) {
  printf("%s: %d checks, %d failed\n", suite, check_count, check_failures);
  return check_failures == 0 ? 0 : 1;
}

#endif
