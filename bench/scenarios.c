/*
 * The scenarios: each iteration is a fixed chain of operations on one
 * sandbox, started through the public async API. A failed step ends the
 * chain, except that a sandbox the iteration created is still deleted.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const bench_op_t steps_health[] = {OP_HEALTH};
static const bench_op_t steps_exec[] = {OP_EXEC};
static const bench_op_t steps_create_delete[] = {OP_CREATE, OP_DELETE};
static const bench_op_t steps_lifecycle[] = {OP_CREATE, OP_UPLOAD, OP_EXEC,
                                             OP_DOWNLOAD, OP_DELETE};
static const bench_op_t steps_upload[] = {OP_UPLOAD};
static const bench_op_t steps_download[] = {OP_DOWNLOAD};

#define STEPS(a) a, sizeof(a) / sizeof(a[0])

static const struct {
  const char *name;
  const bench_op_t *steps;
  unsigned nsteps;
  bool per_iteration;
} scenarios[] = {
    {"health", STEPS(steps_health), false},
    {"exec", STEPS(steps_exec), false},
    {"create-delete", STEPS(steps_create_delete), true},
    {"lifecycle", STEPS(steps_lifecycle), true},
    {"upload", STEPS(steps_upload), false},
    {"download", STEPS(steps_download), false},
};

#define PAYLOAD_NAME "bench.dat"

const char *const bench_op_names[OP__COUNT] = {"health", "create",   "upload",
                                               "exec",   "download", "delete"};

int scenario_select(bench_t *b) {
  for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
    if (strcmp(b->cfg.scenario, scenarios[i].name) == 0) {
      b->steps = scenarios[i].steps;
      b->nsteps = scenarios[i].nsteps;
      b->per_iteration_sandbox = scenarios[i].per_iteration;
      return 0;
    }
  }
  return -1;
}

void sandbox_id(const bench_t *b, uint64_t n, bool per_iteration, char *buf,
                size_t len) {
  snprintf(buf, len, "%s-%ld-%s%" PRIu64, b->cfg.id_prefix, b->pid,
           per_iteration ? "i" : "s", n);
}

static int start_op(bench_t *b, bench_op_t op, const char *id, void *data);

/* ---- timed iterations --------------------------------------------------- */

static void job_step_done(job_t *j, int status, const char *detail) {
  bench_t *b = j->b;
  bench_op_t op = b->steps[j->step];
  op_stats_t *st = &b->ops[op];
  uint64_t now = uv_hrtime();
  /* The first step is timed from the iteration's intended start, so an open
   * loop behind schedule shows the wait (coordinated omission). */
  uint64_t from = j->step == 0 ? j->intended_ns : j->op_start_ns;
  hist_record(&st->hist, now > from ? now - from : 0);
  st->count++;
  if (status != 0) {
    st->errors++;
    st->by_code[status == 1 ? ERR_EXIT_SLOT : (unsigned)-status % ERR_SLOTS]++;
    if (st->first_error[0] == '\0')
      snprintf(st->first_error, sizeof(st->first_error), "%s%s%s",
               status == 1 ? "exit code not 0" : nox_err_name(status),
               *detail ? ": " : "", detail);
    j->failed = true;
  }
  unsigned next = j->step + 1;
  if (j->failed) {
    /* Skip to the delete of a sandbox that exists, or end. */
    next = b->nsteps;
    if (op != OP_CREATE && op != OP_DELETE && b->per_iteration_sandbox)
      next = b->nsteps - 1;
  }
  if (next >= b->nsteps) {
    bench_job_done(j);
    return;
  }
  j->step = next;
  j->op_start_ns = uv_hrtime();
  int err = start_op(b, b->steps[next], j->sid, j);
  if (err != 0) {
    b->fatal = err;
    bench_job_done(j);
  }
}

void scenario_job_start(job_t *j) {
  bench_t *b = j->b;
  j->step = 0;
  j->failed = false;
  j->op_start_ns = uv_hrtime();
  if (b->per_iteration_sandbox) {
    sandbox_id(b, j->iter, true, j->id, sizeof(j->id));
    j->sid = j->id;
  } else {
    j->sid = b->ids[j->iter % b->cfg.sandboxes];
  }
  int err = start_op(b, b->steps[0], j->sid, j);
  if (err != 0) {
    b->fatal = err;
    bench_job_done(j);
  }
}

/* ---- callbacks shared by timed and setup requests ------------------------ */

/* Setup and teardown requests carry a NULL-step marker: data is the bench,
 * tagged by the low bit, so one set of callbacks serves both. */
#define SETUP_TAG ((uintptr_t)1)

static bool is_setup(void *data) {
  return ((uintptr_t)data & SETUP_TAG) != 0;
}

static void setup_step_done(bench_t *b, int status);

static void finish(nox_req_t *req, int status) {
  void *data = nox_req_data(req);
  if (is_setup(data))
    setup_step_done((bench_t *)((uintptr_t)data & ~SETUP_TAG), status);
  else
    job_step_done(data, status, nox_req_error(req)->message);
}

static void on_done(nox_req_t *req, int status) {
  finish(req, status);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  (void)info;
  finish(req, status);
}

static void on_delete(nox_req_t *req, int status) {
  /* Gone is what a delete wants. */
  finish(req,
         status == NOX_ENOTFOUND && is_setup(nox_req_data(req)) ? 0 : status);
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  void *data = nox_req_data(req);
  if (status == 0 && !is_setup(data)) {
    job_t *j = data;
    j->b->ops[OP_EXEC].bytes += r->out_len + r->err_len;
    if (r->exit_code != 0)
      status = 1;
  }
  finish(req, status);
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  void *data = nox_req_data(req);
  (void)buf;
  if (!is_setup(data))
    ((job_t *)data)->b->ops[OP_DOWNLOAD].bytes += len;
  return 0;
}

static void on_upload(nox_req_t *req, int status) {
  void *data = nox_req_data(req);
  if (status == 0 && !is_setup(data)) {
    job_t *j = data;
    j->b->ops[OP_UPLOAD].bytes += j->b->cfg.size;
  }
  finish(req, status);
}

static int start_op(bench_t *b, bench_op_t op, const char *id, void *data) {
  nox_client_t *c = b->client;
  switch (op) {
  case OP_HEALTH:
    return nox_health(NULL, c, on_done, data);
  case OP_CREATE: {
    nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
    o.ttl_seconds = 600;
    return nox_create(NULL, c, id, &o, on_create, data);
  }
  case OP_UPLOAD: {
    /* Iterations that share a sandbox write different files: uploads of
     * one path racing each other are a backend's conflict, not load. */
    char name[48] = PAYLOAD_NAME;
    if (!is_setup(data) && !b->per_iteration_sandbox)
      snprintf(name, sizeof(name), "bench-%u.dat", ((job_t *)data)->slot);
    nox_file_t f = {name, b->payload, b->cfg.size, 0644};
    nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
    o.files = &f;
    o.nfiles = 1;
    return nox_upload(NULL, c, id, &o, on_upload, data);
  }
  case OP_EXEC: {
    static const char *const argv_true[] = {"true", NULL};
    static const char *const argv_read[] = {"wc", "-c", PAYLOAD_NAME, NULL};
    if (b->cfg.cmd != NULL)
      return nox_exec_shell(NULL, c, id, "sh", b->cfg.cmd, NULL, on_exec, data);
    return nox_exec(NULL, c, id,
                    b->per_iteration_sandbox ? argv_read : argv_true, NULL,
                    on_exec, data);
  }
  case OP_DOWNLOAD:
    return nox_download(NULL, c, id, NULL, on_data, on_done, data);
  case OP_DELETE:
    return nox_delete(NULL, c, id, on_delete, data);
  default:
    return NOX_EINVAL;
  }
}

/* ---- setup and teardown (untimed) ---------------------------------------- */

/*
 * exec, upload and download run against cfg.sandboxes sandboxes made before
 * timing starts (download ones get the payload, so there is something to
 * fetch) and deleted after. Each phase starts all its requests at once and
 * ends when the last answers.
 */
static void setup_step_done(bench_t *b, int status) {
  if (status != 0 && b->setup_err == 0)
    b->setup_err = status;
  if (--b->setup_pending == 0)
    b->phase_done(b);
}

static void run_phase(bench_t *b, bench_op_t op, void (*done)(bench_t *b)) {
  void *tag = (void *)((uintptr_t)b | SETUP_TAG);
  b->phase_done = done;
  b->setup_pending = 1; /* held until every request is started */
  for (uint32_t i = 0; i < b->cfg.sandboxes; i++) {
    int err = start_op(b, op, b->ids[i], tag);
    if (err != 0) {
      if (b->setup_err == 0)
        b->setup_err = err;
      break;
    }
    b->setup_pending++;
  }
  setup_step_done(b, 0);
}

static void after_setup_upload(bench_t *b) {
  b->setup_user_done(b);
}

static void after_setup_create(bench_t *b) {
  if (b->setup_err == 0 && b->steps[0] == OP_DOWNLOAD) {
    run_phase(b, OP_UPLOAD, after_setup_upload);
    return;
  }
  b->setup_user_done(b);
}

int scenario_ids(bench_t *b) {
  b->ids = calloc(b->cfg.sandboxes, sizeof(*b->ids));
  if (b->ids == NULL)
    return -1;
  for (uint32_t i = 0; i < b->cfg.sandboxes; i++)
    sandbox_id(b, i, false, b->ids[i], sizeof(b->ids[i]));
  return 0;
}

void scenario_setup(bench_t *b, void (*done)(bench_t *b)) {
  b->setup_user_done = done;
  if (b->per_iteration_sandbox || b->steps[0] == OP_HEALTH) {
    done(b);
    return;
  }
  run_phase(b, OP_CREATE, after_setup_create);
}

void scenario_teardown(bench_t *b, void (*done)(bench_t *b)) {
  if (b->per_iteration_sandbox || b->steps[0] == OP_HEALTH) {
    done(b);
    return;
  }
  run_phase(b, OP_DELETE, done);
}
