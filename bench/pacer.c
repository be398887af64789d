/*
 * Open-loop pacer for bench/engine.ts (issue #3): tells the bench, at the time each append is due, that it is
 * due, by writing one byte per due append to stdout (a pipe the bench reads on its event loop, as the broker
 * reads requests from its sockets). Append i is due at base + start + i * interval (CLOCK_MONOTONIC ns, the
 * clock of Node's process.hrtime). When this process is late, the bytes of every append due so far go in one
 * write; the bench counts lateness from the due times, so a late pacer shows in the figures.
 *
 * It replaced a worker thread that slept with Atomics.wait and posted a message per due append: on the 2-vCPU
 * dev VM that thread alone used a third of a core at 5,000 appends/s (more than the log and the engine's
 * threads), so the bench crowded the engine it measured. Here a wake is one clock_nanosleep and one write.
 *
 *   cc -O2 -o pacer bench/pacer.c && ./pacer <base ns> <start ns> <interval ns> <total>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long long nowNs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s <base ns> <start ns> <interval ns> <total>\n", argv[0]);
    return 2;
  }
  long long base = atoll(argv[1]);
  long long start = atoll(argv[2]);
  long long interval = atoll(argv[3]);
  long long total = atoll(argv[4]);
  if (base <= 0 || start < 0 || interval <= 0 || total <= 0 || total > 1000000000LL) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); // wake at the due time, not up to 50 µs after it
  static char ones[65536];
  memset(ones, 1, sizeof ones);
  long long sent = 0;
  while (sent < total) {
    long long due = (nowNs() - base - start) / interval + 1;
    if (due > total) due = total;
    if (due <= sent) {
      long long at = base + start + sent * interval;
      struct timespec ts = {(time_t)(at / 1000000000LL), (long)(at % 1000000000LL)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
      continue;
    }
    long long n = due - sent;
    while (n > 0) {
      ssize_t w = write(1, ones, n < (long long)sizeof ones ? (size_t)n : sizeof ones);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return 1; // the bench went away
      n -= w;
    }
    sent = due;
  }
  return 0;
}
