/*
 * The retry policy of lib/http/retry.c, asked about one failed attempt at a
 * time: which failures are retried for which operations, the backoff
 * schedule (exponential, capped, with "equal jitter": for attempt n the
 * delay lies in [d/2, d], d = min(retry_base_ms * 2^(n-1), retry_max_ms)),
 * and Retry-After, honoured up to retry_max_ms and refused above it.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "test.h"

#define BASE_MS 100u
#define MAX_MS 1000u
#define RETRIES 50u
#define DRAWS 4000

typedef struct {
  nox_req_t req;
  nox__xfer_t x;
} attempt_t;

/* One failed attempt number n of op, with no Retry-After. */
static void attempt(attempt_t *a, nox_client_t *c, nox__op_t op, unsigned n,
                    long http_status) {
  memset(a, 0, sizeof(*a));
  a->req.client = c;
  a->req.op = op;
  a->req.attempts = n;
  a->x.req = &a->req;
  a->x.http_status = http_status;
  a->x.retry_after_ms = -1;
}

static bool retried(nox_client_t *c, nox__op_t op, int status,
                    long http_status) {
  attempt_t a;
  uint64_t delay = 12345;
  attempt(&a, c, op, 1, http_status);
  bool r = nox__http_should_retry(&a.x, status, &delay);
  if (!r)
    ASSERT_UEQ(delay, 12345); /* untouched when not retried */
  return r;
}

static nox_client_t *client(uv_loop_t *loop, uint32_t base, uint32_t max) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c;
  o.base_url = "http://127.0.0.1:9"; /* never contacted */
  o.retry_base_ms = base;
  o.retry_max_ms = max;
  o.max_retries = RETRIES;
  ASSERT_EQ(nox_client_new(&c, loop, &o), 0);
  c->rng = 0x9e3779b97f4a7c15ull; /* the same draws on every run */
  return c;
}

static uint64_t expected_cap(uint64_t base, uint64_t max, unsigned n) {
  uint64_t d = base;
  for (unsigned i = 1; i < n && d < max; i++)
    d *= 2;
  return d < max ? d : max;
}

/* Every delay of attempt n is in [d/2, d], and the draws fill that range. */
static void check_schedule(uv_loop_t *loop, uint32_t base, uint32_t max) {
  nox_client_t *c = client(loop, base, max);
  for (unsigned n = 1; n <= RETRIES; n++) {
    uint64_t d = expected_cap(base, max, n);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int k = 0; k < DRAWS; k++) {
      attempt_t a;
      uint64_t delay;
      attempt(&a, c, NOX__OP_CREATE, n, 503);
      ASSERT(nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
      ASSERT_GE(delay, d / 2);
      ASSERT_LE(delay, d);
      lo = delay < lo ? delay : lo;
      hi = delay > hi ? delay : hi;
    }
    /* Half is fixed, half random: both ends of the range come up. */
    ASSERT_LE(lo, d / 2 + d / 20);
    ASSERT_GE(hi, d - d / 20 - 1);
  }
  /* The schedule itself, spelled out for the first client. */
  if (base == BASE_MS && max == MAX_MS) {
    static const uint64_t caps[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (unsigned n = 1; n <= 7; n++)
      ASSERT_UEQ(expected_cap(base, max, n), caps[n - 1]);
  }
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/* Which failures are retried, for which operations. */
static void check_which(uv_loop_t *loop) {
  static const nox__op_t idempotent[] = {NOX__OP_HEALTH, NOX__OP_CREATE,
                                         NOX__OP_TOUCH, NOX__OP_DELETE,
                                         NOX__OP_DOWNLOAD};
  static const nox__op_t once[] = {NOX__OP_EXEC, NOX__OP_UPLOAD};
  static const long again[] = {429, 502, 503, 504};
  static const long final[] = {400, 401, 403, 404, 409, 413, 500, 501};
  static const int not_again[] = {NOX_ETIMEDOUT, NOX_ERESOLVE, NOX_ETLS,
                                  NOX_EPROTO,    NOX_ETOOBIG,  NOX_EUSER,
                                  NOX_ENOMEM,    NOX_EARCHIVE};
  nox_client_t *c = client(loop, BASE_MS, MAX_MS);

  for (size_t i = 0; i < sizeof(idempotent) / sizeof(idempotent[0]); i++) {
    nox__op_t op = idempotent[i];
    for (size_t k = 0; k < sizeof(again) / sizeof(again[0]); k++)
      ASSERT(
          retried(c, op, again[k] == 503 ? NOX_EUNAVAIL : NOX_EHTTP, again[k]));
    for (size_t k = 0; k < sizeof(final) / sizeof(final[0]); k++)
      ASSERT(!retried(c, op, NOX_EHTTP, final[k]));
    ASSERT(retried(c, op, NOX_ETRANSPORT, 0));
    ASSERT(retried(c, op, NOX_ECONNECT, 0));
    for (size_t k = 0; k < sizeof(not_again) / sizeof(not_again[0]); k++)
      ASSERT(!retried(c, op, not_again[k], 0));
  }
  /*
   * Exec and upload may have had their effect: retried only when the
   * connection was refused, so that the request never left.
   */
  for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
    nox__op_t op = once[i];
    for (size_t k = 0; k < sizeof(again) / sizeof(again[0]); k++)
      ASSERT(!retried(c, op, NOX_EHTTP, again[k]));
    ASSERT(!retried(c, op, NOX_EUNAVAIL, 503));
    ASSERT(!retried(c, op, NOX_ETRANSPORT, 0));
    ASSERT(!retried(c, op, NOX_ETIMEDOUT, 0));
    ASSERT(retried(c, op, NOX_ECONNECT, 0));
  }

  attempt_t a;
  uint64_t delay;
  /* Bytes already with the caller, or taken from its source: no retry. */
  attempt(&a, c, NOX__OP_DOWNLOAD, 1, 503);
  a.req.delivered_data = true;
  ASSERT(!nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  ASSERT(!nox__http_should_retry(&a.x, NOX_ECONNECT, &delay));
  attempt(&a, c, NOX__OP_UPLOAD, 1, 0);
  a.x.read_started = true;
  ASSERT(!nox__http_should_retry(&a.x, NOX_ECONNECT, &delay));
  /* A canceled request is never retried. */
  attempt(&a, c, NOX__OP_CREATE, 1, 503);
  a.req.canceled = true;
  ASSERT(!nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  /* max_retries retries, that is max_retries + 1 attempts in all. */
  attempt(&a, c, NOX__OP_CREATE, RETRIES, 503);
  ASSERT(nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  attempt(&a, c, NOX__OP_CREATE, RETRIES + 1, 503);
  ASSERT(!nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/* Retry-After replaces the backoff, up to retry_max_ms; above, no retry. */
static void check_retry_after(uv_loop_t *loop) {
  nox_client_t *c = client(loop, BASE_MS, MAX_MS);
  static const long honoured[] = {0, 1, 700, MAX_MS};
  attempt_t a;
  uint64_t delay;

  for (size_t i = 0; i < sizeof(honoured) / sizeof(honoured[0]); i++) {
    for (unsigned n = 1; n <= 6; n++) {
      attempt(&a, c, NOX__OP_TOUCH, n, 429);
      a.x.retry_after_ms = honoured[i];
      delay = 12345;
      ASSERT(nox__http_should_retry(&a.x, NOX_EHTTP, &delay));
      ASSERT_UEQ(delay, (uint64_t)honoured[i]); /* exactly, no jitter */
      ASSERT_STR_EQ(a.req.err.message, "");
    }
  }
  attempt(&a, c, NOX__OP_CREATE, 1, 503);
  a.x.retry_after_ms = MAX_MS + 1;
  delay = 12345;
  ASSERT(!nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  ASSERT_UEQ(delay, 12345);
  ASSERT_STR_EQ(a.req.err.message,
                "server asked to retry after 1001 ms, more than retry_max_ms "
                "(1000)");
  /* As the header comes: "Retry-After: 2" is 2000 ms, over the 1000. */
  attempt(&a, c, NOX__OP_CREATE, 1, 503);
  a.x.retry_after_ms = nox__http_parse_retry_after("2");
  ASSERT(!nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  ASSERT(strstr(a.req.err.message, "2000 ms") != NULL);
  attempt(&a, c, NOX__OP_CREATE, 1, 503);
  a.x.retry_after_ms = nox__http_parse_retry_after("1");
  ASSERT(nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  ASSERT_UEQ(delay, 1000);
  /* It does not make a failure retryable that is not. */
  attempt(&a, c, NOX__OP_CREATE, 1, 500);
  a.x.retry_after_ms = 10;
  ASSERT(!nox__http_should_retry(&a.x, NOX_EHTTP, &delay));
  attempt(&a, c, NOX__OP_EXEC, 1, 503);
  a.x.retry_after_ms = 10;
  ASSERT(!nox__http_should_retry(&a.x, NOX_EUNAVAIL, &delay));
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

int main(void) {
  uv_loop_t loop;
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  check_schedule(&loop, BASE_MS, MAX_MS);
  check_schedule(&loop, 75, 1000);       /* odd steps: d/2 rounds down */
  check_schedule(&loop, 5000, 999);      /* base above the cap: d is the cap */
  check_schedule(&loop, 1, 4000000000u); /* 2^(n-1) must not overflow */
  check_which(&loop);
  check_retry_after(&loop);
  ASSERT_LOOP_CLOSES(&loop);
  nox_library_cleanup();
  return 0;
}
