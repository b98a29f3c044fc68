/* check.h - a minimal assertion helper for the C unit tests (no framework dependency). */
#ifndef RMQ_CHECK_H
#define RMQ_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures = 0;
#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    check_failures++; } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
    fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__, __LINE__, \
            #a, _a, #b, _b); check_failures++; } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define CHECK_DONE() do { if (check_failures) { fprintf(stderr, "%d failures\n", check_failures); \
    return 1; } printf("ok\n"); return 0; } while (0)

static inline void rm_tree(const char *dir) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "rm -rf %s failed\n", dir);
}

/* Run one test function on an empty directory. */
#define RUN_IN(dir, fn) do { rm_tree(dir); fn(); } while (0)
#endif
