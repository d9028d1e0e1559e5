/*
 * Without bubblewrap: with isolation "auto" the client warns once on stderr
 * that commands run unisolated, and they still run; with "none" it says
 * nothing; with "bwrap" client creation fails with NOX_EISOLATION. bwrap
 * is made absent by running this program as a child ("child MODE ROOT")
 * with a PATH that does not lead to it.
 */
#include "local_util.h"

#define WARNING                                                                \
  "noxrunner: warning: bubblewrap not available; local sandbox commands "      \
  "run unisolated on the host"

static int child(const char *mode, const char *root) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c = NULL;
  uv_loop_t loop;
  char url[512];
  lt_res_t r;
  int i, err;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  snprintf(url, sizeof(url), "local://%s", root);
  o.base_url = url;
  o.isolation = strcmp(mode, "auto") == 0   ? NOX_ISOLATION_AUTO
                : strcmp(mode, "none") == 0 ? NOX_ISOLATION_NONE
                                            : NOX_ISOLATION_BWRAP;
  err = nox_client_new(&c, &loop, &o);
  printf("new=%s\n", nox_err_name(err));
  if (err == 0) {
    ASSERT_EQ(lt_create(c, "w", 0, &r), 0);
    for (i = 0; i < 3; i++) {
      lt_sh(c, "w", "echo ran", &r);
      printf("exec=%d %s", r.exit_code, r.out);
      lt_res_free(&r);
    }
    lt_close(c);
  }
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}

typedef struct {
  uv_pipe_t pipe;
  char buf[8192];
  size_t len;
  int eof;
} capture_t;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  capture_t *cap = h->data;
  (void)hint;
  b->base = cap->buf + cap->len;
  b->len = sizeof(cap->buf) - 1 - cap->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  capture_t *cap = s->data;
  (void)b;
  if (n > 0) {
    cap->len += (size_t)n;
    cap->buf[cap->len] = '\0';
  } else if (n < 0) {
    cap->eof = 1;
    uv_close((uv_handle_t *)s, NULL);
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(sig, 0);
  *(int *)p->data = 1;
  uv_close((uv_handle_t *)p, NULL);
}

/* Runs the child with env; fills its stdout and stderr. */
static void run_child(uv_loop_t *loop, const char *mode, const char *root,
                      const char *path_env, capture_t *out, capture_t *err) {
  char exe[4096], pathvar[4200];
  size_t len = sizeof(exe);
  char *args[] = {exe, "child", (char *)mode, (char *)root, NULL};
  char *env[] = {pathvar, NULL};
  uv_stdio_container_t stdio[3];
  uv_process_options_t o;
  uv_process_t p;
  int exited = 0;

  ASSERT_EQ(uv_exepath(exe, &len), 0);
  snprintf(pathvar, sizeof(pathvar), "PATH=%s", path_env);
  memset(out, 0, sizeof(*out));
  memset(err, 0, sizeof(*err));
  uv_pipe_init(loop, &out->pipe, 0);
  uv_pipe_init(loop, &err->pipe, 0);
  out->pipe.data = out;
  err->pipe.data = err;
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&out->pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&err->pipe;
  memset(&o, 0, sizeof(o));
  o.file = exe;
  o.args = args;
  o.env = env;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.exit_cb = on_exit_cb;
  p.data = &exited;
  ASSERT_EQ(uv_spawn(loop, &p, &o), 0);
  uv_read_start((uv_stream_t *)&out->pipe, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&err->pipe, on_alloc, on_read);
  while (!exited || !out->eof || !err->eof)
    uv_run(loop, UV_RUN_ONCE);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  capture_t out, err;
  char *root;
  const char *host_path = getenv("PATH");

  if (argc == 4 && strcmp(argv[1], "child") == 0)
    return child(argv[2], argv[3]);

  root = lt_mkroot();
  ASSERT_EQ(uv_loop_init(&loop), 0);

  /* No bwrap to be found: auto warns exactly once and runs anyway. */
  run_child(&loop, "auto", root, "/nonexistent-bin", &out, &err);
  ASSERT(strstr(out.buf, "new=NOX_OK\n") != NULL);
  ASSERT_EQ(count(out.buf, "exec=0 ran\n"), 3);
  ASSERT_EQ(count(err.buf, WARNING "\n"), 1);

  run_child(&loop, "none", root, "/nonexistent-bin", &out, &err);
  ASSERT_EQ(count(out.buf, "exec=0 ran\n"), 3);
  ASSERT_EQ(count(err.buf, "warning"), 0);

  run_child(&loop, "bwrap", root, "/nonexistent-bin", &out, &err);
  ASSERT(strstr(out.buf, "new=NOX_EISOLATION\n") != NULL);
  ASSERT(strstr(out.buf, "exec=") == NULL);

  /* With the host's PATH, auto warns only if bwrap cannot run here. */
  run_child(&loop, "auto", root, host_path ? host_path : "/usr/bin:/bin", &out,
            &err);
  ASSERT_EQ(count(out.buf, "exec=0 ran\n"), 3);
  ASSERT_EQ(count(err.buf, WARNING), lt_have_bwrap(&loop, root) ? 0 : 1);

  lt_rmroot(root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
