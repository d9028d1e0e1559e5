/*
 * nox-bench: shared state of the driver, the scenarios and the report.
 */
#ifndef NOX_BENCH_H
#define NOX_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "hist.h"
#include "noxrunner.h"

typedef enum {
  OP_HEALTH,
  OP_CREATE,
  OP_UPLOAD,
  OP_EXEC,
  OP_DOWNLOAD,
  OP_DELETE,
  OP__COUNT
} bench_op_t;

/* Errors are counted by NOX_E* code; one more slot counts execs that ran
 * but exited non-zero, which a benchmark must not call a success. */
#define ERR_SLOTS 64
#define ERR_EXIT_SLOT (ERR_SLOTS - 1)

typedef struct op_stats {
  hist_t hist; /* nanoseconds */
  uint64_t count;
  uint64_t errors;
  uint64_t by_code[ERR_SLOTS];
  uint64_t bytes;
  char first_error[320]; /* the first failure's detail, for the report */
} op_stats_t;

typedef struct bench_cfg {
  const char *base_url;
  const char *scenario;
  const char *token;
  const char *cmd;
  const char *id_prefix;
  const char *json_path;
  const char *svg_path;
  uint32_t concurrency;
  double rate; /* > 0: open loop */
  uint64_t requests;
  double duration_s; /* > 0: run for this long instead of `requests` */
  uint32_t sandboxes;
  size_t size;
  uint32_t max_connections;
  bool http2;
  bool allow_errors; /* exit 0 even when requests failed */
} bench_cfg_t;

typedef struct bench bench_t;

/* One scenario iteration in flight: a chain of operations on one sandbox. */
typedef struct job {
  bench_t *b;
  uint64_t iter;
  uint64_t intended_ns; /* when the iteration should have started */
  uint64_t op_start_ns;
  unsigned step;
  bool failed;
  unsigned slot;   /* no two iterations in flight share it */
  const char *sid; /* id or one of bench.ids */
  char id[96];
} job_t;

struct bench {
  bench_cfg_t cfg;
  uv_loop_t *loop;
  nox_client_t *client;
  const bench_op_t *steps;
  unsigned nsteps;
  bool per_iteration_sandbox; /* create-delete, lifecycle */
  long pid;                   /* names this run's sandboxes */
  char (*ids)[96]; /* the ids of the cfg.sandboxes shared sandboxes */

  /* payload of uploads: one file of cfg.size bytes */
  char *payload;

  job_t *jobs; /* closed loop: cfg.concurrency of them, reused */
  uint64_t issued;
  uint64_t finished;
  uint64_t inflight;
  bool stop_issuing;
  int fatal; /* an operation refused at once: stop */

  uint64_t t0_ns, t1_ns;
  uint64_t deadline_ns;
  double cpu_user0, cpu_sys0, cpu_user, cpu_sys;
  long peak_rss_kib;

  uv_timer_t tick; /* open-loop pacing */
  uv_timer_t progress;
  bool show_progress;
  uv_prepare_t lag;
  uint64_t lag_last_ns, lag_last_idle_ns, max_lag_ns;

  op_stats_t ops[OP__COUNT];

  /* setup and teardown */
  uint32_t setup_pending;
  int setup_err;
  int teardown_err; /* deleting the sandboxes failed: exit 1 */
  void (*phase_done)(bench_t *b);
  void (*setup_user_done)(bench_t *b);
};

extern const char *const bench_op_names[OP__COUNT];

/* scenarios.c */
int scenario_select(bench_t *b);
/* Names the shared sandboxes (after cfg and pid are set); -1: no memory. */
int scenario_ids(bench_t *b);
void scenario_job_start(job_t *j);
void scenario_setup(bench_t *b, void (*done)(bench_t *b));
void scenario_teardown(bench_t *b, void (*done)(bench_t *b));
void sandbox_id(const bench_t *b, uint64_t n, bool per_iteration, char *buf,
                size_t len);

/* nox-bench.c: a job's iteration ended (success or not). */
void bench_job_done(job_t *j);

/* report.c */
void report_text(const bench_t *b, FILE *f);
int report_json(const bench_t *b, const char *path);
int report_svg(const bench_t *b, const char *path);
uint64_t bench_total_ops(const bench_t *b);
uint64_t bench_total_errors(const bench_t *b);

#endif /* NOX_BENCH_H */
