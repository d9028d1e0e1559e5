/*
 * local_max_sandboxes: past the cap, making a NEW sandbox (create, or the
 * sandbox an exec of an unknown id makes with local_auto_create) fails with
 * NOX_EUNAVAIL and a message, while create of a live id and everything on
 * live sandboxes still work; delete and expiry free a slot; two clients
 * sharing one root share the count.
 */
#include "local_util.h"

static nox_client_t *capped_client(uv_loop_t *loop, const char *root,
                                   uint32_t cap) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.isolation = NOX_ISOLATION_NONE;
  o.local_max_sandboxes = cap;
  /* An exec of an unknown id makes a sandbox, which the cap must count. */
  o.local_auto_create = 1;
  /* The reaper must not be what frees the expired slot below. */
  o.reap_interval_ms = 3600 * 1000;
  return lt_client_with(loop, root, &o);
}

static void expect_full(int status, const lt_res_t *r) {
  ASSERT_EQ(status, NOX_EUNAVAIL);
  ASSERT(strstr(r->msg, "too many sandboxes (the limit is 3)") != NULL);
}

static int exec_echo(nox_client_t *c, const char *id, lt_res_t *r) {
  const char *argv[] = {"echo", "hello", NULL};
  return lt_exec_opts(c, id, argv, NULL, r);
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot();
  nox_client_t *c, *other;
  lt_res_t r;
  int st;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  c = capped_client(&loop, root, 3);

  ASSERT_EQ(lt_create(c, "a", 600, &r), 0);
  ASSERT_EQ(lt_create(c, "b", 600, &r), 0);
  /* The third slot is taken by the sandbox an exec makes. */
  ASSERT_EQ(exec_echo(c, "made-by-exec", &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);
  ASSERT_EQ(lt_count_sandboxes(root), 3);

  /* Full: no new sandbox, by create or by exec, and nothing is made. */
  st = lt_create(c, "c", 600, &r);
  expect_full(st, &r);
  st = exec_echo(c, "unknown", &r);
  expect_full(st, &r);
  lt_res_free(&r);
  ASSERT_EQ(lt_count_sandboxes(root), 3);

  /* What exists keeps working: create again (ttl update), exec, touch. */
  ASSERT_EQ(lt_create(c, "a", 1, &r), 0);
  ASSERT_EQ(exec_echo(c, "b", &r), 0);
  ASSERT_STR_EQ(r.out, "hello\n");
  lt_res_free(&r);
  ASSERT_EQ(lt_simple(nox_touch, c, "made-by-exec"), 0);

  /* A second client on the same root counts the same sandboxes. */
  other = capped_client(&loop, root, 4);
  ASSERT_EQ(lt_create(other, "d", 600, &r), 0);
  st = lt_create(c, "e", 600, &r);
  ASSERT_EQ(st, NOX_EUNAVAIL);
  st = lt_create(other, "e", 600, &r);
  ASSERT_EQ(st, NOX_EUNAVAIL);
  ASSERT(strstr(r.msg, "the limit is 4") != NULL);
  ASSERT_EQ(lt_simple(nox_delete, other, "d"), 0);
  lt_close(other);

  /* A delete frees a slot at once. */
  ASSERT_EQ(lt_simple(nox_delete, c, "b"), 0);
  ASSERT_EQ(lt_create(c, "c", 600, &r), 0);
  st = lt_create(c, "f", 600, &r);
  expect_full(st, &r);

  /* So does an expiry ("a" got a 1 s ttl above), reaped or not. */
  lt_sleep(&loop, 2100);
  ASSERT_EQ(lt_count_sandboxes(root), 3); /* still on disk */
  ASSERT_EQ(lt_create(c, "f", 600, &r), 0);
  st = exec_echo(c, "a", &r);
  expect_full(st, &r); /* "a" is gone: an exec would make it anew */
  lt_res_free(&r);

  lt_close(c);
  ASSERT_LOOP_CLOSES(&loop);
  lt_rmroot(root);
  return 0;
}
