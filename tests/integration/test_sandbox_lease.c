/*
 * Leases: a leased sandbox outlives its TTL several times over while an
 * unleased one expires; released with keep_on_release it is reaped by its
 * TTL; a leased sandbox deleted behind the handle's back is reported lost
 * by the lease's next touch. (Loss seen by an exec, which these backends
 * never answer with 404, is in test_sandbox_faultd.) argv[1]: local or
 * noxd.
 */
#include "sandbox_util.h"

static int lost_calls;
static int lost_status;
static nox_sandbox_t *lost_sb;

static void on_lost(nox_sandbox_t *sb, int status) {
  lost_calls++;
  lost_status = status;
  lost_sb = sb;
}

static void on_touch(nox_req_t *req, int status) {
  lt_note(nox_req_data(req), req, status);
}

int main(int argc, char **argv) {
  st_env_t env;
  uv_loop_t loop;
  st_res_t r;
  lt_res_t x;
  nox_client_stats_t stats;

  st_setup(&env, argc, argv);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_t *c = st_client(&env, &loop, NULL);

  /*
   * A 3 s TTL, touched every 400-500 ms (slack for a loaded machine); the
   * control has no lease.
   */
  nox_create_options_t co = NOX_CREATE_OPTIONS_INIT;
  co.ttl_seconds = 3;
  nox_sandbox_options_t lo = NOX_SANDBOX_OPTIONS_INIT;
  lo.create = &co;
  lo.wait_ready = 1;
  lo.lease = 1;
  lo.keep_on_release = 1;
  lo.on_lost = on_lost;
  lo.touch_interval_ms = 500;
  nox_sandbox_t *leased = st_sandbox(c, "leased", &lo, &r);
  ASSERT_EQ(r.status, 0);
  ASSERT(nox_sandbox_ready(leased));
  ASSERT_STR_EQ(nox_sandbox_id(leased), "leased");
  int64_t e0 = nox_sandbox_expires_at(leased);
  ASSERT_GT(e0, 0);

  nox_sandbox_options_t po = NOX_SANDBOX_OPTIONS_INIT;
  po.create = &co;
  nox_sandbox_t *plain = st_sandbox(c, "plain", &po, &r);
  ASSERT_EQ(r.status, 0);

  /* More than three TTLs. */
  lt_sleep(&loop, 10000);
  ASSERT_EQ(st_sh(leased, "echo alive", &x), 0);
  ASSERT_STR_EQ(x.out, "alive\n");
  lt_res_free(&x);
  ASSERT_EQ(lost_calls, 0);
  /* Some touch in the last TTL moved expiresAt at least 3 s later. */
  ASSERT_GE(nox_sandbox_expires_at(leased), e0 + 3);

  /* The control expired: its touch answers 404 and marks it lost. */
  memset(&x, 0, sizeof(x));
  ASSERT_EQ(nox_sandbox_touch(NULL, plain, on_touch, &x), 0);
  lt_wait(&loop, &x);
  ASSERT_EQ(x.status, NOX_ENOTFOUND);
  ASSERT(nox_sandbox_lost(plain));
  ASSERT_EQ(lost_calls, 0); /* no on_lost given for it */
  ASSERT_EQ(st_release(plain), 0);

  /* Released but kept: no delete, the TTL reaps it. */
  ASSERT_EQ(st_release(leased), 0);
  ASSERT_EQ(nox_client_stats(c, &stats), 0);
  ASSERT_EQ(stats.sandboxes, 0);
  /* Watched without a request: a touch or an exec would keep it alive. */
  for (int i = 0; i < 300 && lt_count_sandboxes(env.root) > 0; i++)
    lt_sleep(&loop, 100);
  ASSERT_EQ(lt_count_sandboxes(env.root), 0);

  /* Loss seen by the lease: deleted behind its back, the next touch 404s. */
  nox_create_options_t co30 = NOX_CREATE_OPTIONS_INIT;
  co30.ttl_seconds = 30;
  lo.create = &co30;
  lo.keep_on_release = 0;
  lo.touch_interval_ms = 300;
  nox_sandbox_t *victim = st_sandbox(c, "victim", &lo, &r);
  ASSERT_EQ(r.status, 0);
  ASSERT_EQ(lt_simple(nox_delete, c, "victim"), 0);
  for (int i = 0; i < 1200 && lost_calls == 0; i++) /* 60 s guard */
    lt_sleep(&loop, 50);
  ASSERT_EQ(lost_calls, 1);
  ASSERT_EQ(lost_status, NOX_ENOTFOUND);
  ASSERT(lost_sb == victim);
  ASSERT(nox_sandbox_lost(victim));

  /* Lost sandboxes are released without a delete. */
  ASSERT_EQ(st_release(victim), 0);
  ASSERT_EQ(nox_client_stats(c, &stats), 0);
  ASSERT_EQ(stats.sandboxes, 0);

  lt_close(c);
  ASSERT_LOOP_CLOSES(&loop);
  st_teardown(&env);
  return 0;
}
