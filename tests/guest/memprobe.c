/* memprobe: the test guest's memory probe (bench/run, issue 8 item 5).
 *
 *   memprobe [MIB]      (default 64)
 *
 * Prints one line:
 *   memprobe size_mib=64 latency_ns=85.2 read_mbs=9120 write_mbs=10250 copy_mbs=5200
 *
 * - latency_ns: a dependent load chain (each load's address comes from the
 *   one before) through every 64-byte line of the buffer in a random order
 *   (up to 2^20 loads): with a buffer well past the last-level cache, the
 *   caches miss and so does the TLB, which is where huge pages (fewer,
 *   larger TLB entries, a shorter nested walk under KVM) and a vCPU pinned
 *   beside its memory show.
 * - read/write/copy_mbs: the best of three passes summing the buffer in
 *   8-byte words, memset of it, memcpy of half of it onto the other half.
 *
 * MIB must leave half of the guest's RAM free (exit 2 otherwise).
 *
 * Static, no dependencies: built by tests/guest/build.sh into the initrd
 * and run by /init with kl.memprobe=MIB. Under TCG the numbers measure the
 * emulator, not the memory: bench/run says so next to them. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>

#define LINE 64u
#define MAX_STEPS (1u << 20)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: a fixed seed, so every run chases the same cycle. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

int main(int argc, char **argv) {
    char *end = NULL;
    unsigned long mib = argc > 1 ? strtoul(argv[1], &end, 10) : 64;
    struct sysinfo si;
    unsigned long max_mib = sysinfo(&si) == 0 ? (unsigned long)((uint64_t)si.totalram * si.mem_unit / 2 >> 20) : 65536;
    if ((argc > 1 && (end == argv[1] || *end)) || mib < 1 || mib > max_mib) {
        fprintf(stderr, "memprobe: expected a size in MiB from 1 to %lu (half the RAM), found %s\n", max_mib, argc > 1 ? argv[1] : "");
        return 2;
    }
    size_t size = (size_t)mib << 20, lines = size / LINE;
    unsigned char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED) {
        perror("memprobe: mmap");
        return 1;
    }

    /* A random cycle through every line (Sattolo's shuffle: one cycle). */
    size_t *order = malloc(lines * sizeof(*order));
    if (!order) return 1;
    for (size_t i = 0; i < lines; i++) order[i] = i;
    for (size_t i = lines - 1; i > 0; i--) {
        size_t j = (size_t)(rng() % i);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < lines; i++) {
        void **slot = (void **)(buf + order[i] * LINE);
        *slot = buf + order[(i + 1) % lines] * LINE;
    }
    free(order);

    size_t steps = lines < MAX_STEPS ? lines : MAX_STEPS;
    void **p = (void **)buf; /* every line is on the cycle, line 0 too */
    for (size_t i = 0; i < 1024; i++) p = (void **)*p;
    double t = now_s();
    for (size_t i = 0; i < steps; i++) p = (void **)*p;
    double latency_ns = (now_s() - t) * 1e9 / (double)steps;

    double best_read = 0, best_write = 0, best_copy = 0;
    volatile uint64_t sink = (uint64_t)(uintptr_t)p;
    for (int pass = 0; pass < 3; pass++) {
        uint64_t sum = 0;
        t = now_s();
        /* memcpy: the buffer holds pointers; reading them as integers
         * through a cast would break C's aliasing rules. It compiles to
         * one load. */
        for (size_t i = 0; i < size / 8; i++) {
            uint64_t w;
            memcpy(&w, buf + i * 8, 8);
            sum += w;
        }
        double s = now_s() - t;
        sink += sum;
        if (s > 0 && (double)size / s > best_read) best_read = (double)size / s;

        t = now_s();
        memset(buf, pass + 1, size);
        s = now_s() - t;
        if (s > 0 && (double)size / s > best_write) best_write = (double)size / s;

        t = now_s();
        memcpy(buf + size / 2, buf, size / 2);
        s = now_s() - t;
        /* a copy reads and writes each byte: count both, as STREAM does */
        if (s > 0 && (double)size / s > best_copy) best_copy = (double)size / s;
    }
    (void)sink;
    printf("memprobe size_mib=%lu latency_ns=%.1f read_mbs=%.0f write_mbs=%.0f copy_mbs=%.0f\n", mib, latency_ns, best_read / 1e6,
           best_write / 1e6, best_copy / 1e6);
    munmap(buf, size);
    return 0;
}
