/*
 * Allocation failures: every allocation the library makes during an
 * operation is made to fail in turn (the Nth, for N = 1, 2, ... until the
 * operation no longer reaches an Nth allocation). Each run must end in
 * success (a fallback) or NOX_ENOMEM (NOX_EARCHIVE for an upload's packing
 * too), with exactly one callback (or an immediate error), no crash, no
 * leak (ASan), and a loop that closes.
 *
 * The hook: this test is linked against the static library with
 * -Wl,--wrap for malloc, calloc, realloc and strdup, so the library's own
 * calls (and this file's) come here; libuv, libcurl and yajl are shared
 * libraries and keep the real allocator.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner.h>
#include <uv.h>

#include "harness.h"
#include "test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static long fail_at = -1; /* the allocation to fail, 1-based; -1: none */
static long seen;         /* allocations since armed */
static long failed;       /* how many were made to fail */

/* A failure is what the real allocator gives: NULL with errno ENOMEM. */
static int should_fail(void) {
  if (fail_at < 0)
    return 0;
  if (++seen == fail_at) {
    failed++;
    errno = ENOMEM;
    return 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n) {
  return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  return should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
  return should_fail() ? NULL : __real_strdup(s);
}

typedef enum { OP_CREATE, OP_EXEC, OP_DOWNLOAD, OP_UPLOAD } op_t;
static const char *const op_names[] = {"create", "exec", "download", "upload"};

typedef struct {
  int calls;
  int status;
  char msg[256];
} outcome_t;

static void note(outcome_t *o, nox_req_t *req, int status) {
  o->calls++;
  o->status = status;
  snprintf(o->msg, sizeof(o->msg), "%s", nox_req_error(req)->message);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  note(nox_req_data(req), req, status);
  if (status == 0)
    ASSERT(info->pod_name != NULL);
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  note(nox_req_data(req), req, status);
  /* faultd echoes the command; the local backend runs it */
  if (status == 0)
    ASSERT((r->out_len == 7 && memcmp(r->out, "echo hi", 7) == 0) ||
           (r->out_len == 3 && memcmp(r->out, "hi\n", 3) == 0));
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  (void)req;
  (void)buf;
  (void)len;
  return 0;
}

static void on_done(nox_req_t *req, int status) {
  note(nox_req_data(req), req, status);
}

/* One run with the Nth allocation failing; returns 1 if N was reached. */
static int run_once(const char *url, op_t op, long n, int *status_out,
                    char *msg, size_t msglen) {
  uv_loop_t loop;
  nox_client_t *c;
  outcome_t o;
  memset(&o, 0, sizeof(o));
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  opts.base_url = url;
  opts.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&c, &loop, &opts), 0);

  static const char *const argv[] = {"echo", "hi", NULL};
  static const char text[] = "hello\n";
  nox_file_t file = {"a/hello.txt", text, sizeof(text) - 1, 0644};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  up.files = &file;
  up.nfiles = 1;

  seen = 0;
  fail_at = n;
  int err;
  switch (op) {
  case OP_CREATE:
    err = nox_create(NULL, c, "sb", NULL, on_create, &o);
    break;
  case OP_EXEC:
    err = nox_exec(NULL, c, "sb", argv, NULL, on_exec, &o);
    break;
  case OP_DOWNLOAD:
    err = nox_download(NULL, c, "sb", NULL, on_data, on_done, &o);
    break;
  default:
    err = nox_upload(NULL, c, "sb", &up, on_done, &o);
    break;
  }
  if (err == 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(o.calls, 1);
  } else {
    ASSERT(err == NOX_ENOMEM || err == NOX_EARCHIVE);
    ASSERT_EQ(o.calls, 0);
  }
  int reached = seen >= n;
  fail_at = -1;
  *status_out = err != 0 ? err : o.status;
  snprintf(msg, msglen, "%s",
           err != 0 ? nox_client_last_error(c)->message : o.msg);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&loop);
  return reached;
}

int main(void) {
  nox_test_server_t fd;
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(nox_test_faultd_start(&fd), 0);

  char root[] = "/tmp/nox-alloc-XXXXXX";
  ASSERT(mkdtemp(root) != NULL);
  char local[64];
  snprintf(local, sizeof(local), "local://%s", root);
  const char *urls[] = {fd.url, local};

  for (int u = 0; u < 2; u++)
  for (op_t op = OP_CREATE; op <= OP_UPLOAD; op++) {
    const char *url = urls[u];
    long n;
    if (u == 1 && op == OP_DOWNLOAD)
      continue; /* needs the sandbox made by create: covered over HTTP */
    int ok = 0, nomem = 0, other = 0;
    for (n = 1;; n++) {
      int status;
      char msg[256];
      if (!run_once(url, op, n, &status, msg, sizeof(msg))) {
        ASSERT_EQ(status, 0); /* nothing failed: the operation works */
        break;
      }
      if (status == 0)
        ok++; /* the failed allocation had a fallback */
      else if (status == NOX_ENOMEM)
        nomem++;
      else {
        other++;
        printf("  %s, allocation %ld: %s: %s\n", op_names[op], n,
               nox_err_name(status), msg);
        /*
         * Only an archive step may name its own failure (an upload's
         * packing, as the immediate errors above); anything else means an
         * allocation failure was reported as something it is not (a lost
         * errno became NOX_EIO once).
         */
        ASSERT(op == OP_UPLOAD && status == NOX_EARCHIVE);
      }
      ASSERT_LT(n, 100000);
    }
    printf("%-5s %-8s %4ld allocation points: %d NOX_ENOMEM, %d other "
           "errors, %d recovered\n",
           u ? "local" : "http", op_names[op], n - 1, nomem, other, ok);
  }
  printf("%ld allocations failed in all\n", failed);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ASSERT_EQ(system(cmd), 0);
  nox_test_server_stop(&fd);
  nox_library_cleanup();
  return 0;
}
