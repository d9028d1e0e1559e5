/*
 * Helpers of the sandbox-handle tests: one backend per run, chosen by
 * argv[1] ("local": the in-process local backend on a fresh root; "noxd":
 * the HTTP backend against a noxd on a fresh root), and run-to-completion
 * wrappers for handles.
 */
#ifndef NOX_TEST_SANDBOX_UTIL_H
#define NOX_TEST_SANDBOX_UTIL_H

#include <noxrunner/sandbox.h>

#include "local_util.h"
#include "noxd_util.h"

typedef struct {
  int noxd; /* 0: local backend */
  char *root;
  noxd_test_t nx;
  char url[600];
} st_env_t;

static inline void st_setup(st_env_t *e, int argc, char **argv) {
  memset(e, 0, sizeof(*e));
  e->noxd = argc > 1 && strcmp(argv[1], "noxd") == 0;
  if (e->noxd) {
    ASSERT_EQ(noxd_test_start(&e->nx, "none", NULL), 0);
    e->root = e->nx.root;
    snprintf(e->url, sizeof(e->url), "%s", e->nx.srv.url);
  } else {
    e->root = lt_mkroot();
    snprintf(e->url, sizeof(e->url), "local://%s", e->root);
  }
}

static inline void st_teardown(st_env_t *e) {
  if (e->noxd)
    ASSERT_EQ(noxd_test_stop(&e->nx), 0);
  else
    lt_rmroot(e->root);
}

/* A client on the environment's backend; o may be NULL. */
static inline nox_client_t *st_client(st_env_t *e, uv_loop_t *loop,
                                      nox_client_options_t *o) {
  nox_client_options_t def = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c = NULL;
  if (o == NULL)
    o = &def;
  o->base_url = e->url;
  o->isolation = NOX_ISOLATION_NONE;
  if (o->reap_interval_ms == 0)
    o->reap_interval_ms = 200;
  ASSERT_EQ(nox_client_new(&c, loop, o), 0);
  return c;
}

typedef struct {
  int done;
  int status;
} st_res_t;

static inline void st_on_ready(nox_sandbox_t *sb, int status) {
  st_res_t *r = nox_sandbox_data(sb);
  r->done = 1;
  r->status = status;
}

/* Makes a handle and runs the loop until its creation callback. */
static inline nox_sandbox_t *st_sandbox(nox_client_t *c, const char *id,
                                        const nox_sandbox_options_t *o,
                                        st_res_t *r) {
  nox_sandbox_t *sb = NULL;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_sandbox_new(&sb, c, id, o, st_on_ready, r), 0);
  while (!r->done)
    uv_run(nox_client_loop(c), UV_RUN_ONCE);
  return sb;
}

static inline void st_on_released(nox_sandbox_t *sb, int status, void *data) {
  st_res_t *r = data;
  (void)sb;
  r->done = 1;
  r->status = status;
}

static inline int st_release(nox_sandbox_t *sb) {
  st_res_t r = {0, 0};
  uv_loop_t *loop = nox_client_loop(nox_sandbox_client(sb));
  ASSERT_EQ(nox_sandbox_release(sb, st_on_released, &r), 0);
  while (!r.done)
    uv_run(loop, UV_RUN_ONCE);
  return r.status;
}

/* exec of `sh -c script` on the handle; returns the status, result in r. */
static inline int st_sh(nox_sandbox_t *sb, const char *script, lt_res_t *r) {
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_sandbox_exec_shell(NULL, sb, "sh", script, NULL, lt_on_exec, r),
            0);
  lt_wait(nox_client_loop(nox_sandbox_client(sb)), r);
  return r->status;
}

#endif /* NOX_TEST_SANDBOX_UTIL_H */
