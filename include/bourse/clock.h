/*
 * clock.h: time sources.
 *
 * clock_mono_ns is for measuring intervals (never jumps); clock_wall_ms is for
 * timestamps clients see (`ts`, milliseconds since the Unix epoch). Both read
 * the vDSO: no system call. Thread-safe.
 */
#ifndef BOURSE_CLOCK_H
#define BOURSE_CLOCK_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t clock_mono_ns(void);

/* Milliseconds since the Unix epoch on CLOCK_REALTIME. */
int64_t clock_wall_ms(void);

/* Nanoseconds since the Unix epoch on CLOCK_REALTIME. */
int64_t clock_wall_ns(void);

#endif
