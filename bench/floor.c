/*
 * The device's own floor for durable appends measured the way bench/engine.ts measures the engine (issue #3):
 * an open loop at a fixed rate, latency from each append's *due* time (coordinated omission corrected), so a
 * device stall counts against every append due during it, as it does for the engine.
 *
 * fio's fdatasync p99 (bench/fio.ts) is a closed loop: one write + fdatasync at a time, timed from its own
 * issue, so the appends that would have arrived during a stall are never counted. This program is the best any
 * engine could do on this disk under the engine benchmark's schedule: one thread in C, no runtime, no thread
 * hops, ideal group commit (each round writes every append due so far in one O_DIRECT pwrite, rewriting the
 * partly filled tail block, then one fdatasync; all of them complete together), on a file laid out with zeros
 * first (synced) so every write is an overwrite and every fdatasync a cache flush with no journal commit: what the
 * engine's zero-ahead gets for a low-rate file, and what fio's fdatasync job measures (bench/fio.ts).
 *
 *   cc -O2 -o floor bench/floor.c && ./floor <rate/s> <append bytes> <seconds> <file>
 *
 * Prints one JSON object: p50/p99/p999/max (µs from due to durable), rounds, appends.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double nowUs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int byValue(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

enum { ALIGN = 4096, STAGING = 64 << 20 };

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s <rate/s> <append bytes> <seconds> <file>\n", argv[0]);
    return 2;
  }
  double rate = atof(argv[1]);
  long size = atol(argv[2]);
  double seconds = atof(argv[3]);
  const char* path = argv[4];
  long total = (long)(rate * seconds);
  if (!(rate > 0) || size <= 0 || size > STAGING / 4 || total <= 0 || total > 100000000L || total * size > (8L << 30)) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0644);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  double* latency = malloc(sizeof(double) * total);
  char* staging = NULL;
  if (latency == NULL || posix_memalign((void**)&staging, ALIGN, STAGING) != 0) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  memset(staging, 0, STAGING);
  long layout = (total * size + STAGING) & ~(long)(ALIGN - 1);
  for (long o = 0; o < layout; o += STAGING) {
    long n = layout - o < STAGING ? layout - o : STAGING;
    if (pwrite(fd, staging, n, o) != n) {
      perror("pwrite (layout)");
      return 1;
    }
  }
  if (fdatasync(fd) != 0) {
    perror("fdatasync (layout)");
    return 1;
  }
  memset(staging, 'a', STAGING);
  double intervalUs = 1e6 / rate;
  double startUs = nowUs() + 10000;
  long end = 0, done = 0, rounds = 0;
  while (done < total) {
    long due = (long)((nowUs() - startUs) / intervalUs) + 1;
    if (due > total) due = total;
    if (due <= done) {
      double waitUs = startUs + done * intervalUs - nowUs();
      if (waitUs > 0) {
        struct timespec ts = {(time_t)(waitUs / 1e6), (long)(waitUs * 1000) % 1000000000L};
        nanosleep(&ts, NULL);
      }
      continue;
    }
    // Everything due so far, in one write from the start of the partly filled tail block.
    long newEnd = end + (due - done) * size;
    long from = end & ~(long)(ALIGN - 1);
    long to = (newEnd + ALIGN - 1) & ~(long)(ALIGN - 1);
    if (to - from > STAGING) {
      fprintf(stderr, "backlog larger than the staging buffer\n");
      return 1;
    }
    if (pwrite(fd, staging, to - from, from) != to - from) {
      perror("pwrite");
      return 1;
    }
    if (fdatasync(fd) != 0) {
      perror("fdatasync");
      return 1;
    }
    double durableUs = nowUs();
    for (long i = done; i < due; i++) latency[i] = durableUs - (startUs + i * intervalUs);
    done = due;
    end = newEnd;
    rounds++;
  }
  close(fd);
  unlink(path);
  qsort(latency, total, sizeof(double), byValue);
  printf("{\"appends\":%ld,\"rounds\":%ld,\"p50Us\":%.0f,\"p99Us\":%.0f,\"p999Us\":%.0f,\"maxUs\":%.0f}\n", total, rounds,
         latency[total / 2], latency[(long)(total * 0.99)], latency[(long)(total * 0.999)], latency[total - 1]);
  free(latency);
  free(staging);
  return 0;
}
