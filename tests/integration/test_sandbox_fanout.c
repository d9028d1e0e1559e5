/*
 * Fan-out over sandbox handles: collect-all with uploads, commands and
 * downloads, some jobs failing; fail-fast canceling the rest; a sandbox
 * lost mid-batch getting no more jobs. argv[1]: local or noxd.
 */
#include "sandbox_util.h"

#define NSB 4
#define NJOBS 16
#define CONC 3

static nox_client_t *client;
static int seen[NJOBS];
static int batch_done;
static nox_fanout_report_t rep;
static size_t exec_peak;

static void on_job(nox_fanout_t *f, const nox_job_result_t *r, void *data) {
  nox_client_stats_t s;
  (void)f;
  (void)data;
  ASSERT_LT(r->index, NJOBS);
  ASSERT_EQ(seen[r->index], 0);
  seen[r->index] = 1 + r->ok;
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  if (s.execs > exec_peak)
    exec_peak = s.execs;
}

static void on_done(nox_fanout_t *f, const nox_fanout_report_t *r, void *data) {
  (void)f;
  (void)data;
  rep = *r;
  batch_done = 1;
}

/* Collect-all: job i uploads "job i", cats it, downloads it; i % 5 == 3 fails.
 */
static char bodies[NJOBS][32];
static nox_file_t files[NJOBS];
static char scripts[NJOBS][128];

static void on_job_checked(nox_fanout_t *f, const nox_job_result_t *r,
                           void *data) {
  on_job(f, r, data);
  size_t i = r->index;
  ASSERT(r->sandbox != NULL);
  if (i % 5 == 3) {
    ASSERT_EQ(r->ok, 0);
    ASSERT_EQ(r->status, 0);
    ASSERT_EQ(r->failed_step, NOX_JOB_STEP_EXEC);
    ASSERT(r->exec != NULL);
    ASSERT_EQ(r->exec->exit_code, 3);
    ASSERT(r->download == NULL);
    return;
  }
  ASSERT_EQ(r->status, 0);
  ASSERT_EQ(r->ok, 1);
  ASSERT(r->exec != NULL);
  ASSERT_EQ(r->exec->exit_code, 0);
  ASSERT_EQ(r->exec->out_len, strlen(bodies[i]));
  ASSERT_MEM_EQ(r->exec->out, bodies[i], r->exec->out_len);
  ASSERT(r->download != NULL);
  ASSERT_GT(r->download_len, 0);
}

static void run(nox_sandbox_t **sbs, size_t nsb, const nox_job_t *jobs,
                size_t njobs, const nox_fanout_options_t *o, nox_job_cb cb) {
  memset(seen, 0, sizeof(seen));
  batch_done = 0;
  exec_peak = 0;
  ASSERT_EQ(nox_fanout(NULL, sbs, nsb, jobs, njobs, o, cb, on_done, NULL), 0);
  ASSERT_EQ(batch_done, 0); /* nothing reports from inside the call */
  while (!batch_done)
    uv_run(nox_client_loop(client), UV_RUN_ONCE);
  for (size_t i = 0; i < njobs; i++)
    ASSERT_NE(seen[i], 0);
  ASSERT_EQ(rep.jobs, njobs);
  ASSERT_EQ(rep.ok + rep.failed + rep.canceled, njobs);
}

int main(int argc, char **argv) {
  st_env_t env;
  uv_loop_t loop;
  st_res_t r;
  nox_sandbox_t *sbs[NSB];
  nox_job_t jobs[NJOBS];

  st_setup(&env, argc, argv);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  client = st_client(&env, &loop, NULL);
  for (int i = 0; i < NSB; i++) {
    char id[32];
    snprintf(id, sizeof(id), "fan%d", i);
    sbs[i] = st_sandbox(client, id, NULL, &r);
    ASSERT_EQ(r.status, 0);
  }

  /* Collect-all. */
  memset(jobs, 0, sizeof(jobs));
  for (int i = 0; i < NJOBS; i++) {
    snprintf(bodies[i], sizeof(bodies[i]), "job %d", i);
    snprintf(scripts[i], sizeof(scripts[i]),
             i % 5 == 3 ? "exit 3" : "cat in%d.txt && cp in%d.txt out%d.txt", i,
             i, i);
    files[i].path = NULL;
    char *path = malloc(32);
    ASSERT(path != NULL);
    snprintf(path, 32, "in%d.txt", i);
    files[i].path = path;
    files[i].data = bodies[i];
    files[i].len = strlen(bodies[i]);
    jobs[i].files = &files[i];
    jobs[i].nfiles = 1;
    jobs[i].script = scripts[i];
    char *src = malloc(48);
    ASSERT(src != NULL);
    snprintf(src, 48, "/workspace/out%d.txt", i);
    jobs[i].download_src = src;
  }
  nox_fanout_options_t fo = NOX_FANOUT_OPTIONS_INIT;
  fo.max_concurrent = CONC;
  run(sbs, NSB, jobs, NJOBS, &fo, on_job_checked);
  ASSERT_EQ(rep.failed, 3);
  ASSERT_EQ(rep.ok, NJOBS - 3);
  ASSERT_EQ(rep.canceled, 0);
  ASSERT_EQ(rep.first_failed, 3);
  ASSERT_LE(exec_peak, CONC);
  for (int i = 0; i < NJOBS; i++) {
    free((void *)files[i].path);
    free((void *)jobs[i].download_src);
  }

  /* Fail-fast: job 0 fails at once, the others would take a while. */
  memset(jobs, 0, sizeof(jobs));
  for (int i = 0; i < NJOBS; i++)
    jobs[i].script = i == 0 ? "exit 1" : "sleep 5";
  fo = (nox_fanout_options_t)NOX_FANOUT_OPTIONS_INIT;
  fo.fail_fast = 1;
  fo.max_concurrent = 2;
  run(sbs, 2, jobs, NJOBS, &fo, on_job);
  ASSERT_EQ(rep.failed, 1);
  ASSERT_EQ(rep.first_failed, 0);
  ASSERT_GE(rep.canceled, NJOBS - 2);
  ASSERT_EQ(seen[0], 1);

  /*
   * A sandbox deleted behind the batch's back: these backends re-create it
   * empty on exec, so exactly the jobs that ran there fail (a backend that
   * answers 404 loses it instead; see test_sandbox_faultd).
   */
  lt_res_t x;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(st_sh(sbs[i], "touch mark", &x), 0);
    lt_res_free(&x);
  }
  ASSERT_EQ(lt_simple(nox_delete, client, "fan1"), 0);
  memset(jobs, 0, sizeof(jobs));
  for (int i = 0; i < 9; i++)
    jobs[i].script = "test -f mark";
  run(sbs, 3, jobs, 9, NULL, on_job);
  ASSERT_GE(rep.failed, 1);
  ASSERT_GE(rep.ok, 1);
  ASSERT_EQ(rep.ok + rep.failed, 9);

  nox_fanout_t *f = NULL;
  ASSERT_EQ(nox_fanout(&f, sbs, NSB, jobs, 4, NULL, on_job, on_done, NULL), 0);
  batch_done = 0;
  memset(seen, 0, sizeof(seen));
  ASSERT_EQ(nox_fanout_cancel(f), 0);
  ASSERT_EQ(nox_fanout_cancel(f), NOX_EALREADY);
  while (!batch_done)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(rep.canceled, 4);

  ASSERT_EQ(nox_fanout(NULL, sbs, 0, jobs, 4, NULL, on_job, on_done, NULL),
            NOX_EINVAL);
  lt_close(client);
  ASSERT_LOOP_CLOSES(&loop);
  if (!env.noxd)
    ASSERT_EQ(lt_count_sandboxes(env.root), 0);
  st_teardown(&env);
  return 0;
}
