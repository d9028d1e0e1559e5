/*
 * Many requests through few connections: the connection cap holds, every
 * request completes, connections are reused, and concurrent requests really
 * run side by side.
 */
#include "http_common.h"

#define LOAD_N 10000
#define LOAD_CONNS 64

/* Number i of the load, with its own argv so its echo can be checked. */
typedef struct {
  ht_op_t op;
  char arg[16];
} load_op_t;

static void test_concurrent_10000(void) {
  ht_t t;
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  load_op_t *ops = calloc(LOAD_N, sizeof(*ops));
  ASSERT(ops != NULL);
  o.max_connections = LOAD_CONNS;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, &o);
  unsigned long long t0 = nox_test_now_ms();
  for (int i = 0; i < LOAD_N; i++) {
    ht_op_init(&ops[i].op, &t);
    if (i % 5 == 4) {
      ASSERT_EQ(ht_health(&ops[i].op, c), 0);
    } else {
      snprintf(ops[i].arg, sizeof(ops[i].arg), "%d", i);
      const char *argv[] = {"echo", ops[i].arg, NULL};
      ASSERT_EQ(ht_exec(&ops[i].op, c, "load", argv, NULL), 0);
    }
  }
  ASSERT_EQ(nox_client_pending(c), LOAD_N);
  ht_wait(&t);
  unsigned long long ms = nox_test_now_ms() - t0;
  printf("  %d requests in %llu ms\n", LOAD_N, ms);

  for (int i = 0; i < LOAD_N; i++) {
    HT_EXPECT(&ops[i].op, 0);
    ASSERT_EQ(ops[i].op.attempts, 1);
    if (i % 5 != 4) {
      char want[32];
      snprintf(want, sizeof(want), "echo %d", i);
      ASSERT_STR_EQ(ops[i].op.out, want);
    }
    ht_op_free(&ops[i].op);
  }
  ASSERT_EQ(nox_client_pending(c), 0);
  long max_open = nox_test_faultd_stat(&ht_server, "connections_max_open");
  long total = nox_test_faultd_stat(&ht_server, "connections_total");
  printf("  connections: %ld at most at once, %ld in all\n", max_open, total);
  ASSERT_GT(max_open, 0);
  ASSERT_LE(max_open, LOAD_CONNS);
  ASSERT_LE(total, 2 * LOAD_CONNS); /* reused, not one per request */
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), LOAD_N);
  ht_end(&t);
  free(ops);
}

#define SEQ_N 100

typedef struct {
  ht_op_t ops[SEQ_N];
  nox_client_t *c;
  int next;
} seq_t;

static void start_next(ht_op_t *prev);

static void start_op(seq_t *s) {
  static const char *const argv[] = {"echo", "seq", NULL};
  nox_file_t file = {"f.txt", "abc", 3, 0};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  up.files = &file;
  up.nfiles = 1;
  int i = s->next++;
  ht_op_t *op = &s->ops[i];
  ht_op_init(op, s->ops[0].t);
  op->user = s;
  op->then = start_next;
  int r;
  switch (i % 7) {
  case 0:
    r = ht_exec(op, s->c, "seq", argv, NULL);
    break;
  case 1:
    r = ht_health(op, s->c);
    break;
  case 2:
    r = ht_create(op, s->c, "seq", NULL);
    break;
  case 3:
    r = ht_touch(op, s->c, "seq");
    break;
  case 4:
    r = ht_download(op, s->c, "seq", NULL);
    break;
  case 5:
    r = ht_upload(op, s->c, "seq", &up);
    break;
  default:
    r = ht_delete(op, s->c, "seq");
    break;
  }
  ASSERT_EQ(r, 0);
}

static void start_next(ht_op_t *prev) {
  seq_t *s = prev->user;
  HT_EXPECT(prev, 0);
  if (s->next < SEQ_N)
    start_op(s);
}

/* Requests one after another, each from the last one's callback. */
static void test_keepalive_sequential(void) {
  ht_t t;
  seq_t *s = calloc(1, sizeof(*s));
  ASSERT(s != NULL);
  ht_begin(&t);
  s->c = ht_client(&t, NULL, NULL);
  s->ops[0].t = &t;
  start_op(s);
  ht_wait(&t);
  ASSERT_EQ(s->next, SEQ_N);
  for (int i = 0; i < SEQ_N; i++) {
    HT_EXPECT(&s->ops[i], 0);
    ht_op_free(&s->ops[i]);
  }
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), SEQ_N);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "connections_total"), 1);
  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), SEQ_N);
  for (size_t i = 0; i < SEQ_N; i++)
    ASSERT_EQ(nox_test_json_int(ht_log_at(log, i), "conn"),
              nox_test_json_int(ht_log_at(log, 0), "conn"));
  yajl_tree_free(log);
  ht_end(&t);
  free(s);
}

/* Arrival times, in seconds, of the first and last logged request. */
static void arrival_span(double *first, double *last) {
  yajl_val log = ht_log();
  *first = 1e9;
  *last = -1;
  for (size_t i = 0; i < ht_log_len(log); i++) {
    yajl_val tv = ht_json_get(ht_log_at(log, i), "time", NULL);
    ASSERT(tv != NULL && YAJL_IS_NUMBER(tv));
    double v = YAJL_GET_DOUBLE(tv);
    *first = v < *first ? v : *first;
    *last = v > *last ? v : *last;
  }
  yajl_tree_free(log);
}

/*
 * Requests started together reach the server together: a slow first answer
 * must not hold the others back.
 */
static void test_not_serialized(void) {
  ht_t t;
  ht_op_t ops[8];
  const char *argv[] = {"echo", "p", NULL};
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, "delay1500", NULL);
  unsigned long long t0 = nox_test_now_ms();
  for (int i = 0; i < 8; i++) {
    ht_op_init(&ops[i], &t);
    ASSERT_EQ(ht_exec(&ops[i], c, "par", argv, NULL), 0);
  }
  ht_wait(&t);
  unsigned long long ms = nox_test_now_ms() - t0;
  double first, last;
  arrival_span(&first, &last);
  printf("  8 requests of 1.5 s each: %llu ms, arrivals spread %.3f s\n", ms,
         last - first);
  for (int i = 0; i < 8; i++) {
    HT_EXPECT(&ops[i], 0);
    ht_op_free(&ops[i]);
  }
  /* One after another they would take 12 s and arrive 10.5 s apart. */
  ASSERT(last - first < 6.0);
  ASSERT_LT(ms, 9000);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "connections_max_open"), 8);
  ht_end(&t);
}

/* A small cap is used fully and never exceeded. */
static void test_small_cap(void) {
  ht_t t;
  ht_op_t *ops = calloc(200, sizeof(*ops));
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  const char *argv[] = {"echo", "cap", NULL};
  ASSERT(ops != NULL);
  o.max_connections = 4;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, "delay20", &o);
  for (int i = 0; i < 200; i++) {
    ht_op_init(&ops[i], &t);
    ASSERT_EQ(ht_exec(&ops[i], c, "cap", argv, NULL), 0);
  }
  ht_wait(&t);
  for (int i = 0; i < 200; i++) {
    HT_EXPECT(&ops[i], 0);
    ht_op_free(&ops[i]);
  }
  long max_open = nox_test_faultd_stat(&ht_server, "connections_max_open");
  printf("  cap 4: %ld at most at once\n", max_open);
  ASSERT_LE(max_open, 4);
  ASSERT_GE(max_open, 2);
  ht_end(&t);
  free(ops);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"keepalive_sequential", test_keepalive_sequential},
      {"concurrent_10000", test_concurrent_10000},
      {"small_cap", test_small_cap},
      {"not_serialized", test_not_serialized},
  };
  return HT_RUN(cases);
}
