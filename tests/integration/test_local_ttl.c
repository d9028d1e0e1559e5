/*
 * TTL: the reaper removes expired sandboxes on its timer, touch keeps a
 * sandbox alive past its ttl, a client started later removes what expired
 * while no process ran, and delete (or expiry) kills the sandbox's running
 * commands.
 */
#include "local_util.h"

static nox_client_t *client_reaping(uv_loop_t *loop, const char *root,
                                    uint32_t every_ms) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.isolation = NOX_ISOLATION_NONE;
  o.reap_interval_ms = every_ms;
  return lt_client_with(loop, root, &o);
}

/*
 * Starts `sleep 300` in id; its outcome lands in r. The waits below are hang
 * guards far shorter than the sleep, so an early end is always a kill.
 */
static void start_sleeper(nox_client_t *c, const char *id, lt_res_t *r) {
  const char *argv[] = {"sleep", "300", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;

  o.timeout_seconds = 600;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_exec(NULL, c, id, argv, &o, lt_on_exec, r), 0);
}

static void wait_ms(uv_loop_t *loop, lt_res_t *r, uint64_t limit_ms) {
  uint64_t t0 = uv_hrtime();
  while (!r->done) {
    ASSERT_LT((uv_hrtime() - t0) / 1000000, limit_ms);
    lt_sleep(loop, 20);
  }
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot();
  nox_client_t *c;
  lt_res_t r, s1, s2;
  int i;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  c = client_reaping(&loop, root, 200);

  ASSERT_EQ(lt_create(c, "short", 1, &r), 0);
  ASSERT_EQ(lt_create(c, "long", 600, &r), 0);
  ASSERT_EQ(lt_create(c, "touched", 4, &r), 0);
  ASSERT_EQ(lt_create(c, "busy", 1, &r), 0);
  start_sleeper(c, "busy", &s1);
  lt_sleep(&loop, 300);
  ASSERT_EQ(lt_count_sandboxes(root), 4);

  /*
   * Seven seconds of touching every 0.7 s keeps a 4 s sandbox alive (a
   * touch may come late on a loaded machine: 3.3 s of slack).
   */
  for (i = 0; i < 10; i++) {
    lt_sleep(&loop, 700);
    ASSERT_EQ(lt_simple(nox_touch, c, "touched"), 0);
  }
  /* The reaper removed the others that expired, killing busy's command. */
  ASSERT_EQ(lt_count_sandboxes(root), 2);
  ASSERT_EQ(lt_simple(nox_touch, c, "short"), NOX_ENOTFOUND);
  ASSERT_EQ(lt_simple(nox_touch, c, "busy"), NOX_ENOTFOUND);
  ASSERT_EQ(lt_simple(nox_touch, c, "long"), 0);
  ASSERT_EQ(lt_simple(nox_delete, c, "touched"), 0);
  wait_ms(&loop, &s1, 60000);
  ASSERT_EQ(s1.status, 0);
  ASSERT_EQ(s1.exit_code, 128 + 9);
  lt_res_free(&s1);

  /* delete kills what runs there first. */
  ASSERT_EQ(lt_create(c, "victim", 0, &r), 0);
  start_sleeper(c, "victim", &s2);
  lt_sleep(&loop, 300);
  ASSERT(!s2.done);
  uint64_t t0 = uv_hrtime();
  ASSERT_EQ(lt_simple(nox_delete, c, "victim"), 0);
  wait_ms(&loop, &s2, 60000);
  ASSERT_EQ(s2.exit_code, 128 + 9);
  printf("  delete killed the running command in %llu ms\n",
         (unsigned long long)((uv_hrtime() - t0) / 1000000));
  lt_res_free(&s2);
  lt_close(c);

  /* A sandbox expires while no client runs; the next one reaps it at once. */
  c = client_reaping(&loop, root, 3600 * 1000);
  ASSERT_EQ(lt_create(c, "stale", 1, &r), 0);
  lt_close(c);
  ASSERT_EQ(lt_count_sandboxes(root), 2); /* long, stale */
  lt_sleep(&loop, 2100);                  /* past the second after its expiry */
  ASSERT_EQ(lt_count_sandboxes(root), 2); /* nobody reaps meanwhile */
  c = client_reaping(&loop, root, 3600 * 1000);
  for (i = 0; i < 3000 && lt_count_sandboxes(root) != 1; i++) /* 60 s guard */
    lt_sleep(&loop, 20);
  ASSERT_EQ(lt_count_sandboxes(root), 1);
  ASSERT_EQ(lt_simple(nox_touch, c, "stale"), NOX_ENOTFOUND);
  ASSERT_EQ(lt_simple(nox_touch, c, "long"), 0);
  lt_close(c);

  lt_rmroot(root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
