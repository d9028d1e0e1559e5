/*
 * A tiny test framework in the manner of libuv's test/task.h: every test is
 * its own executable run by CTest; a failed ASSERT prints where and aborts.
 */
#ifndef NOX_TEST_H
#define NOX_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define ASSERT(expr)                                                           \
  do {                                                                         \
    if (!(expr)) {                                                             \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,     \
              #expr);                                                          \
      fflush(stderr);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#define ASSERT_OP(a, op, b, fmt, cast)                                         \
  do {                                                                         \
    cast nox_a_ = (cast)(a);                                                   \
    cast nox_b_ = (cast)(b);                                                   \
    if (!(nox_a_ op nox_b_)) {                                                 \
      fprintf(stderr, "%s:%d: assertion failed: %s %s %s (" fmt " vs " fmt     \
                      ")\n",                                                   \
              __FILE__, __LINE__, #a, #op, #b, nox_a_, nox_b_);               \
      fflush(stderr);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#define ASSERT_EQ(a, b) ASSERT_OP(a, ==, b, "%lld", long long)
#define ASSERT_NE(a, b) ASSERT_OP(a, !=, b, "%lld", long long)
#define ASSERT_LT(a, b) ASSERT_OP(a, <, b, "%lld", long long)
#define ASSERT_LE(a, b) ASSERT_OP(a, <=, b, "%lld", long long)
#define ASSERT_GT(a, b) ASSERT_OP(a, >, b, "%lld", long long)
#define ASSERT_GE(a, b) ASSERT_OP(a, >=, b, "%lld", long long)
#define ASSERT_UEQ(a, b) ASSERT_OP(a, ==, b, "%llu", unsigned long long)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *nox_sa_ = (a), *nox_sb_ = (b);                                 \
    if (nox_sa_ == NULL || nox_sb_ == NULL || strcmp(nox_sa_, nox_sb_) != 0) { \
      fprintf(stderr, "%s:%d: assertion failed: %s == %s (\"%s\" vs \"%s\")\n", \
              __FILE__, __LINE__, #a, #b, nox_sa_ ? nox_sa_ : "(null)",        \
              nox_sb_ ? nox_sb_ : "(null)");                                   \
      fflush(stderr);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#define ASSERT_MEM_EQ(a, b, n) ASSERT(memcmp((a), (b), (n)) == 0)

/* Every test ends here: nothing may be left on the loop. */
#define ASSERT_LOOP_CLOSES(loop)                                               \
  do {                                                                         \
    uv_run((loop), UV_RUN_DEFAULT);                                            \
    ASSERT_EQ(uv_loop_close(loop), 0);                                         \
  } while (0)

#endif /* NOX_TEST_H */
