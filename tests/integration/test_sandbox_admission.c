/*
 * Admission control against a real backend: execs over max_execs wait, so
 * the commands' own start and end timestamps, taken on the backend, never
 * overlap more than the limit; a queue deadline ends a waiting exec with
 * NOX_ETIMEDOUT before it is sent; canceling a waiting exec frees nothing
 * it did not take. argv[1]: local or noxd.
 */
#include "sandbox_util.h"

#define LIMIT 3
#define NEXEC 12

static nox_client_t *client;
static int done_count;
static size_t max_seen;

static void check_stats(void) {
  nox_client_stats_t s;
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_LE(s.execs, LIMIT);
  if (s.execs > max_seen)
    max_seen = s.execs;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(r->exit_code, 0);
  (void)req;
  check_stats();
  done_count++;
}

static int cmp_event(const void *a, const void *b) {
  const long long *x = a, *y = b;
  if (x[0] != y[0])
    return x[0] < y[0] ? -1 : 1;
  return (int)(x[1] - y[1]); /* ends (-1) before starts (+1) at a tie */
}

int main(int argc, char **argv) {
  st_env_t env;
  uv_loop_t loop;
  st_res_t r;
  lt_res_t x;
  nox_client_stats_t s;

  st_setup(&env, argc, argv);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_execs = LIMIT;
  client = st_client(&env, &loop, &o);

  nox_sandbox_t *sb = st_sandbox(client, "adm", NULL, &r);
  ASSERT_EQ(r.status, 0);

  /* A burst of execs; each records when it ran, in ns, on the backend. */
  char script[256];
  for (int i = 0; i < NEXEC; i++) {
    snprintf(script, sizeof(script),
             "date +%%s%%N > s%d; sleep 0.3; date +%%s%%N > e%d", i, i);
    ASSERT_EQ(
        nox_sandbox_exec_shell(NULL, sb, "sh", script, NULL, on_exec, NULL), 0);
  }
  /* Nothing is admitted before the loop runs. */
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.execs + s.execs_queued, 0);
  ASSERT_EQ(s.pending, NEXEC);
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.execs, LIMIT);
  ASSERT_EQ(s.execs_queued, NEXEC - LIMIT);
  while (done_count < NEXEC)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(max_seen, LIMIT);

  ASSERT_EQ(st_sh(sb,
                  "for i in $(seq 0 11); do echo $(cat s$i) $(cat e$i);"
                  " done",
                  &x),
            0);
  long long ev[2 * NEXEC][2];
  const char *p = x.out;
  for (int i = 0; i < NEXEC; i++) {
    long long a, b;
    int n;
    ASSERT_EQ(sscanf(p, "%lld %lld\n%n", &a, &b, &n), 2);
    ASSERT_LE(a, b);
    ev[2 * i][0] = a;
    ev[2 * i][1] = 1;
    ev[2 * i + 1][0] = b;
    ev[2 * i + 1][1] = -1;
    p += n;
  }
  lt_res_free(&x);
  qsort(ev, 2 * NEXEC, sizeof(ev[0]), cmp_event);
  int cur = 0, peak = 0;
  for (int i = 0; i < 2 * NEXEC; i++) {
    cur += (int)ev[i][1];
    if (cur > peak)
      peak = cur;
  }
  fprintf(stderr, "peak concurrent execs on the backend: %d\n", peak);
  ASSERT_LE(peak, LIMIT);
  ASSERT_GE(peak, 1);

  lt_close(client);
  ASSERT_LOOP_CLOSES(&loop);

  /* Queue deadline and cancel, with one exec slot. */
  ASSERT_EQ(uv_loop_init(&loop), 0);
  o = (nox_client_options_t)NOX_CLIENT_OPTIONS_INIT;
  o.max_execs = 1;
  o.queue_deadline_ms = 300;
  client = st_client(&env, &loop, &o);
  sb = st_sandbox(client, "adm2", NULL, &r);
  ASSERT_EQ(r.status, 0);
  lt_res_t slow, late, gone;
  memset(&slow, 0, sizeof(slow));
  memset(&late, 0, sizeof(late));
  memset(&gone, 0, sizeof(gone));
  nox_req_t *late_req = NULL, *gone_req = NULL;
  ASSERT_EQ(nox_sandbox_exec_shell(NULL, sb, "sh", "sleep 1.5", NULL,
                                   lt_on_exec, &slow),
            0);
  ASSERT_EQ(nox_sandbox_exec_shell(&late_req, sb, "sh", "echo late", NULL,
                                   lt_on_exec, &late),
            0);
  ASSERT_EQ(nox_sandbox_exec_shell(&gone_req, sb, "sh", "echo gone", NULL,
                                   lt_on_exec, &gone),
            0);
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.execs, 1);
  ASSERT_EQ(s.execs_queued, 2);
  ASSERT_EQ(nox_req_cancel(gone_req), 0);
  lt_wait(&loop, &gone);
  ASSERT_EQ(gone.status, NOX_ECANCELED);
  lt_wait(&loop, &late);
  ASSERT_EQ(late.status, NOX_ETIMEDOUT);
  ASSERT(strstr(late.msg, "admission queue") != NULL);
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.queue_timeouts, 1);
  ASSERT_EQ(s.execs, 1);
  ASSERT_EQ(s.execs_queued, 0);
  ASSERT_EQ(slow.done, 0); /* the deadline passed while it ran */
  lt_wait(&loop, &slow);
  ASSERT_EQ(slow.status, 0);
  /* The slot is free again. */
  ASSERT_EQ(st_sh(sb, "echo again", &x), 0);
  ASSERT_STR_EQ(x.out, "again\n");
  lt_res_free(&x);
  lt_res_free(&slow);
  lt_res_free(&late);
  lt_res_free(&gone);
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.execs + s.execs_queued + s.pending, 0);
  lt_close(client);
  ASSERT_LOOP_CLOSES(&loop);
  st_teardown(&env);
  return 0;
}
