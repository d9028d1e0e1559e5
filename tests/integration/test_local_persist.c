/*
 * Sandboxes outlive the process that made them: a child process (this
 * program run with "make ROOT") creates a sandbox and writes into it; the
 * parent then finds it with its own client, and a second child ("drop
 * ROOT") sees the parent's writes and deletes it, which the parent sees.
 */
#include "local_util.h"

#define ID "persist/one"

static int child(const char *mode, const char *root) {
  uv_loop_t loop;
  nox_client_t *c;
  lt_res_t r;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  c = lt_client(&loop, root, NOX_ISOLATION_AUTO);
  if (strcmp(mode, "make") == 0) {
    ASSERT_EQ(lt_create(c, ID, 600, &r), 0);
    lt_sh(c, ID, "echo from-child > made.txt", &r);
    ASSERT_EQ(r.exit_code, 0);
    lt_res_free(&r);
  } else {
    lt_sh(c, ID, "cat from-parent.txt", &r);
    ASSERT_STR_EQ(r.out, "parent wrote this\n");
    lt_res_free(&r);
    ASSERT_EQ(lt_simple(nox_delete, c, ID), 0);
  }
  lt_close(c);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(sig, 0);
  *(int *)p->data = 1;
  uv_close((uv_handle_t *)p, NULL);
}

static void run_child(uv_loop_t *loop, const char *mode, const char *root) {
  char exe[4096];
  size_t len = sizeof(exe);
  char *args[] = {exe, (char *)mode, (char *)root, NULL};
  uv_stdio_container_t stdio[3];
  uv_process_options_t o;
  uv_process_t p;
  int exited = 0;

  ASSERT_EQ(uv_exepath(exe, &len), 0);
  memset(&o, 0, sizeof(o));
  for (int i = 0; i < 3; i++) {
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = i;
  }
  o.file = exe;
  o.args = args;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.exit_cb = on_child_exit;
  p.data = &exited;
  ASSERT_EQ(uv_spawn(loop, &p, &o), 0);
  while (!exited)
    uv_run(loop, UV_RUN_ONCE);
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  nox_client_t *c;
  lt_res_t r;
  char *root;
  nox_file_t f = {"from-parent.txt", "parent wrote this\n", 18, 0};

  if (argc == 3)
    return child(argv[1], argv[2]);

  root = lt_mkroot();
  ASSERT_EQ(uv_loop_init(&loop), 0);
  run_child(&loop, "make", root);

  c = lt_client(&loop, root, NOX_ISOLATION_AUTO);
  ASSERT_EQ(lt_count_sandboxes(root), 1);
  ASSERT_EQ(lt_simple(nox_touch, c, ID), 0);
  lt_sh(c, ID, "cat made.txt", &r);
  ASSERT_STR_EQ(r.out, "from-child\n");
  lt_res_free(&r);
  /* create of an existing sandbox keeps its files. */
  ASSERT_EQ(lt_create(c, ID, 300, &r), 0);
  ASSERT_EQ(lt_upload(c, ID, NULL, &f, 1, NULL, 0, &r), 0);
  lt_sh(c, ID, "ls", &r);
  ASSERT_STR_EQ(r.out, "from-parent.txt\nmade.txt\n");
  lt_res_free(&r);

  run_child(&loop, "drop", root);
  ASSERT_EQ(lt_simple(nox_touch, c, ID), NOX_ENOTFOUND);
  ASSERT_EQ(lt_count_sandboxes(root), 0);
  lt_close(c);
  lt_rmroot(root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
