/*
 * A command's timeout kills its whole process group: a command that forks
 * sleeping grandchildren (one of them double-forked, so orphaned) exits 124
 * with the output it wrote so far, and none of its processes is left on
 * the host. Output caps: each stream is cut at max_output_bytes, the result
 * says so in out_truncated/err_truncated and the bytes are exactly the
 * command's first ones (nothing appended); a command writing far more is
 * drained, never stuck.
 */
#include <sys/types.h>

#include "local_util.h"

static void check_timeout(nox_client_t *c, int isolation) {
  uv_loop_t *loop = nox_client_loop(c);
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  char script[512], t1[32], t2[32], t3[32];
  const char *argv[] = {"sh", "-c", script, NULL};
  lt_res_t r;
  int pid = (int)getpid();

  /* Sleep lengths unique to this run mark its processes in /proc. */
  snprintf(t1, sizeof(t1), "86391.%d%d", pid, isolation);
  snprintf(t2, sizeof(t2), "86392.%d%d", pid, isolation);
  snprintf(t3, sizeof(t3), "86393.%d%d", pid, isolation);
  snprintf(script, sizeof(script),
           "echo partial; echo partial-err >&2; (sleep %s &); "
           "sh -c 'sleep %s & wait' & sleep %s",
           t1, t2, t3);
  o.timeout_seconds = 1;
  ASSERT_EQ(lt_create(c, "slow", 0, &r), 0);
  uint64_t t0 = uv_hrtime();
  ASSERT_EQ(lt_exec_opts(c, "slow", argv, &o, &r), 0);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_EQ(r.exit_code, 124);
  ASSERT_STR_EQ(r.out, "partial\n");
  ASSERT_STR_EQ(r.err, "partial-err\n");
  ASSERT_STR_EQ(r.msg, "command timed out after 1 s");
  /* Upper bounds here only tell "ended" from "waited for the sleeps". */
  ASSERT_GE(ms, 900);
  ASSERT_LT(ms, 60000);
  lt_res_free(&r);
  ASSERT(lt_gone(loop, t1));
  ASSERT(lt_gone(loop, t2));
  ASSERT(lt_gone(loop, t3));

  /* What a command leaves running in the background dies when it ends. */
  snprintf(t1, sizeof(t1), "86394.%d%d", pid, isolation);
  snprintf(script, sizeof(script), "sleep %s & echo started", t1);
  o.timeout_seconds = 120;
  t0 = uv_hrtime();
  ASSERT_EQ(lt_exec_opts(c, "slow", argv, &o, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.out, "started\n");
  ASSERT_LT((uv_hrtime() - t0) / 1000000, 60000); /* not the 120 s timeout */
  lt_res_free(&r);
  ASSERT(lt_gone(loop, t1));

  /*
   * A process that left the group and holds the output pipes does not hold
   * the result: it comes a moment after the command exits. (Unisolated it
   * keeps running, so it is kept short here.)
   */
  snprintf(script, sizeof(script), "setsid sleep 40 & echo done");
  o.timeout_seconds = 120;
  t0 = uv_hrtime();
  ASSERT_EQ(lt_exec_opts(c, "slow", argv, &o, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.out, "done\n");
  ASSERT_LT((uv_hrtime() - t0) / 1000000, 30000); /* not the sleep's 40 s */
  lt_res_free(&r);

  /* Isolated, even a process that left the group dies with the sandbox. */
  if (isolation == NOX_ISOLATION_BWRAP) {
    snprintf(t1, sizeof(t1), "86395.%d%d", pid, isolation);
    snprintf(script, sizeof(script), "setsid sleep %s & sleep 60", t1);
    o.timeout_seconds = 1;
    ASSERT_EQ(lt_exec_opts(c, "slow", argv, &o, &r), 0);
    ASSERT_EQ(r.exit_code, 124);
    lt_res_free(&r);
    ASSERT(lt_gone(loop, t1));
  }
}

static void check_caps(uv_loop_t *loop, const char *root, int isolation) {
  nox_client_options_t co = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c = NULL;
  char url[512];
  lt_res_t r;
  size_t i;

  snprintf(url, sizeof(url), "local://%s", root);
  co.base_url = url;
  co.isolation = isolation;
  co.max_output_bytes = 1000;
  ASSERT_EQ(nox_client_new(&c, loop, &co), 0);

  ASSERT_EQ(lt_create(c, "caps", 0, &r), 0);
  lt_sh(c, "caps",
        "head -c 5000 /dev/zero | tr '\\0' a; "
        "head -c 3000 /dev/zero | tr '\\0' b >&2",
        &r);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.out_len, 1000);
  for (i = 0; i < 1000; i++)
    ASSERT(r.out[i] == 'a');
  ASSERT_EQ(r.out_truncated, 1);
  ASSERT_EQ(r.err_len, 1000);
  for (i = 0; i < 1000; i++)
    ASSERT(r.err[i] == 'b');
  ASSERT_EQ(r.err_truncated, 1);
  lt_res_free(&r);

  /* Exactly at the cap: nothing is cut. */
  lt_sh(c, "caps", "head -c 1000 /dev/zero | tr '\\0' c", &r);
  ASSERT_EQ(r.out_len, 1000);
  ASSERT_EQ(r.out_truncated, 0);
  ASSERT_EQ(r.err_truncated, 0);
  lt_res_free(&r);

  /* One byte past it: cut, and the flag says so. */
  lt_sh(c, "caps", "head -c 1000 /dev/zero | tr '\\0' d; printf e",
        &r);
  ASSERT_EQ(r.out_len, 1000);
  ASSERT(r.out[999] == 'd');
  ASSERT_EQ(r.out_truncated, 1);
  ASSERT_EQ(r.err_truncated, 0);
  lt_res_free(&r);

  /* 200 MB through a 1000-byte cap: drained at pipe speed, never stuck. */
  uint64_t t0 = uv_hrtime();
  lt_sh(c, "caps", "head -c 200000000 /dev/zero; echo done >&2", &r);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.err, "done\n");
  ASSERT_EQ(r.out_len, 1000);
  ASSERT_EQ(r.out_truncated, 1);
  ASSERT_LT((uv_hrtime() - t0) / 1000000, 20000);
  lt_res_free(&r);
  lt_close(c);

  /* The default cap is 1 MiB. */
  c = lt_client(loop, root, isolation);
  lt_sh(c, "caps", "head -c 2000000 /dev/zero | tr '\\0' a", &r);
  ASSERT_EQ(r.out_len, 1048576);
  for (i = 0; i < r.out_len; i++)
    ASSERT(r.out[i] == 'a');
  ASSERT_EQ(r.out_truncated, 1);
  lt_res_free(&r);
  lt_close(c);
}

static void run(uv_loop_t *loop, int isolation) {
  char *root = lt_mkroot();
  nox_client_t *c = lt_client(loop, root, isolation);
  check_timeout(c, isolation);
  lt_close(c);
  check_caps(loop, root, isolation);
  lt_rmroot(root);
}

int main(void) {
  uv_loop_t loop;
  char *probe_root = lt_mkroot();

  ASSERT_EQ(uv_loop_init(&loop), 0);
  run(&loop, NOX_ISOLATION_NONE);
  if (lt_have_bwrap(&loop, probe_root))
    run(&loop, NOX_ISOLATION_BWRAP);
  lt_rmroot(probe_root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
