/*
 * 200 execs of a short sleep across 50 sandboxes, all in flight at once
 * through one client: every one succeeds, and they overlap on the server.
 * Overlap is read from the nanosecond timestamps each command prints when it
 * starts and ends (a sweep over those intervals), not from the wall clock.
 * And while a long exec runs, other requests go on being answered.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner.h>

#include "noxd_util.h"
#include "test.h"

#define NSANDBOX 50
#define NEXEC 200

static uv_loop_t loop;
static nox_client_t *client;

typedef struct {
  int64_t start, end;
} span_t;

static span_t spans[NEXEC];
static int finished, failures, created;

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  ASSERT_EQ(status, 0);
  created++;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  span_t *s = nox_req_data(req);

  finished++;
  if (status != 0 || r->exit_code != 0 ||
      sscanf(r->out, "%" SCNd64 " %" SCNd64, &s->start, &s->end) != 2 ||
      s->end < s->start) {
    fprintf(stderr, "exec failed: %s (%s) exit %d out \"%s\"\n",
            nox_err_name(status), nox_req_error(req)->message,
            status == 0 ? r->exit_code : -1, status == 0 ? r->out : "");
    failures++;
  }
}

static int cmp_event(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  /* By time; at the same instant an end (-1) before a start (+1). */
  if (x[0] != y[0])
    return x[0] < y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* The most intervals open at one instant. */
static int max_overlap(void) {
  static int64_t ev[2 * NEXEC][2];
  int open = 0, best = 0;

  for (int i = 0; i < NEXEC; i++) {
    ev[2 * i][0] = spans[i].start;
    ev[2 * i][1] = 1;
    ev[2 * i + 1][0] = spans[i].end;
    ev[2 * i + 1][1] = -1;
  }
  qsort(ev, 2 * NEXEC, sizeof(ev[0]), cmp_event);
  for (int i = 0; i < 2 * NEXEC; i++) {
    open += (int)ev[i][1];
    if (open > best)
      best = open;
  }
  return best;
}

static void run_fanout(void) {
  static const char script[] = "date +%s%N; sleep 0.3; date +%s%N";
  char id[32];

  for (int i = 0; i < NSANDBOX; i++) {
    snprintf(id, sizeof(id), "fan-%d", i);
    ASSERT_EQ(nox_create(NULL, client, id, NULL, on_create, NULL), 0);
  }
  while (created < NSANDBOX)
    uv_run(&loop, UV_RUN_ONCE);

  for (int i = 0; i < NEXEC; i++) {
    snprintf(id, sizeof(id), "fan-%d", i % NSANDBOX);
    ASSERT_EQ(nox_exec_shell(NULL, client, id, "sh", script, NULL, on_exec,
                             &spans[i]),
              0);
  }
  while (finished < NEXEC)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(failures, 0);
  {
    int best = max_overlap();
    fprintf(stderr, "%d execs, at most %d running at one instant\n", NEXEC,
            best);
    ASSERT_GT(best, 1);
  }
}

/* A long exec must not hold up the requests behind it. */
static int order[3], norder;

static void on_long(nox_req_t *req, int status, const nox_exec_result_t *r) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(r->exit_code, 0);
  order[norder++] = 1;
}

static void on_quick(nox_req_t *req, int status, const nox_exec_result_t *r) {
  ASSERT_EQ(status, 0);
  ASSERT_STR_EQ(r->out, "quick\n");
  order[norder++] = 2;
}

static void on_health(nox_req_t *req, int status) {
  ASSERT_EQ(status, 0);
  order[norder++] = 3;
}

static void run_long_and_short(void) {
  const char *quick[] = {"echo", "quick", NULL};
  const char *slow[] = {"sleep", "3", NULL};

  ASSERT_EQ(nox_exec(NULL, client, "fan-0", slow, NULL, on_long, NULL), 0);
  ASSERT_EQ(nox_exec(NULL, client, "fan-0", quick, NULL, on_quick, NULL), 0);
  ASSERT_EQ(nox_health(NULL, client, on_health, NULL), 0);
  while (norder < 3)
    uv_run(&loop, UV_RUN_ONCE);
  /* The slow one, started first, finished last. */
  ASSERT_EQ(order[2], 1);
}

static void on_closed(void *data) {
  *(bool *)data = true;
}

int main(void) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  noxd_test_t t;
  bool closed = false;

  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(noxd_test_start(&t, "none", NULL), 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  opts.base_url = t.srv.url;
  opts.max_connections = 64;
  opts.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&client, &loop, &opts), 0);

  run_fanout();
  run_long_and_short();

  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(closed);
  ASSERT_EQ(noxd_test_stop(&t), 0);
  nox_library_cleanup();
  return 0;
}
