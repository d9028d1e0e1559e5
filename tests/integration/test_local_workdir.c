/*
 * Paths name /workspace and what is below it (relative ones from /workspace,
 * by nox_workspace_path()); anything else, or anything
 * that resolves outside through ".." or a symlink, is refused with
 * NOX_EINVAL and a message saying so, never silently redirected. Applies to
 * exec's workdir, upload's dest and download's src, in each isolation mode.
 */
#include <sys/stat.h>

#include "local_util.h"

static void expect_refused(nox_client_t *c, const char *workdir) {
  const char *argv[] = {"sh", "-c", "pwd; touch marker", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  lt_res_t r;

  o.workdir = workdir;
  ASSERT_EQ(lt_exec_opts(c, "wd", argv, &o, &r), NOX_EINVAL);
  ASSERT(strstr(r.msg, "outside /workspace") != NULL);
  ASSERT(strstr(r.msg, workdir) != NULL);
  lt_res_free(&r);
}

static void expect_pwd(nox_client_t *c, const char *workdir,
                       const char *suffix) {
  const char *argv[] = {"pwd", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  lt_res_t r;
  size_t n = strlen(suffix);

  o.workdir = workdir;
  ASSERT_EQ(lt_exec_opts(c, "wd", argv, &o, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_GE(r.out_len, n + 1);
  ASSERT(strncmp(r.out + r.out_len - n - 1, suffix, n) == 0);
  lt_res_free(&r);
}

static void run(uv_loop_t *loop, int isolation) {
  char *root = lt_mkroot(), *outside = lt_mkroot(), script[1024];
  nox_client_t *c = lt_client(loop, root, isolation);
  nox_file_t f = {"x.txt", "x", 1, 0};
  lt_res_t r;
  struct stat st;

  /* Symlinks made by a command, leading out of the workspace. */
  snprintf(script, sizeof(script),
           "ln -s /etc etc-link; ln -s .. up; ln -s %s out-link; "
           "mkdir -p real/sub; ln -s real/sub in-link",
           outside);
  ASSERT_EQ(lt_create(c, "wd", 0, &r), 0);
  lt_sh(c, "wd", script, &r);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);

  expect_refused(c, "/etc");
  expect_refused(c, "/");
  expect_refused(c, "../etc");
  expect_refused(c, "/workspacex");
  expect_refused(c, "/workspace/..");
  expect_refused(c, "/workspace/../etc");
  expect_refused(c, "/workspace/a/../../etc");
  expect_refused(c, "/workspace/etc-link");
  expect_refused(c, "/workspace/up");
  expect_refused(c, "/workspace/out-link");
  expect_refused(c, "/workspace/out-link/new-dir");
  /* Refused before anything was made through the link on the host. */
  snprintf(script, sizeof(script), "%s/new-dir", outside);
  ASSERT_NE(stat(script, &st), 0);
  snprintf(script, sizeof(script), "%s/marker", outside);
  ASSERT_NE(stat(script, &st), 0);

  /* Allowed: names that stay inside, and links that stay inside. */
  expect_pwd(c, "/workspace", "/workspace");
  expect_pwd(c, "/workspace/", "/workspace");
  expect_pwd(c, "/workspace/./a/../b", "/workspace/b");
  expect_pwd(c, "/workspace//c///d", "/workspace/c/d");
  expect_pwd(c, "/workspace/in-link", "/workspace/real/sub");
  expect_pwd(c, "relative/dir", "/workspace/relative/dir");
  expect_pwd(c, "/../workspace/e", "/workspace/e");

  /* The same rules for upload destinations and download sources. */
  ASSERT_EQ(lt_upload(c, "wd", "/tmp", &f, 1, NULL, 0, &r), NOX_EINVAL);
  ASSERT(strstr(r.msg, "/tmp") != NULL);
  ASSERT_EQ(lt_upload(c, "wd", "/workspace/out-link", &f, 1, NULL, 0, &r),
            NOX_EINVAL);
  ASSERT_EQ(lt_upload(c, "wd", "/workspace/../x", &f, 1, NULL, 0, &r),
            NOX_EINVAL);
  snprintf(script, sizeof(script), "%s/x.txt", outside);
  ASSERT_NE(stat(script, &st), 0);
  ASSERT_EQ(lt_upload(c, "wd", "/workspace/in-link", &f, 1, NULL, 0, &r), 0);
  lt_sh(c, "wd", "cat real/sub/x.txt", &r);
  ASSERT_STR_EQ(r.out, "x");
  lt_res_free(&r);

  ASSERT_EQ(lt_download(c, "wd", "/etc/passwd", &r), NOX_EINVAL);
  lt_res_free(&r);
  ASSERT_EQ(lt_download(c, "wd", "/workspace/etc-link", &r), NOX_EINVAL);
  ASSERT(strstr(r.msg, "outside") != NULL);
  lt_res_free(&r);
  ASSERT_EQ(lt_download(c, "wd", "/workspace/up", &r), NOX_EINVAL);
  lt_res_free(&r);
  ASSERT_EQ(lt_download(c, "wd", "/workspace/in-link", &r), 0);
  ASSERT_GT(r.data_len, 0);
  lt_res_free(&r);

  /* A workspace that holds links out still downloads: they stay links. */
  ASSERT_EQ(lt_download(c, "wd", NULL, &r), 0);
  lt_res_free(&r);
  ASSERT_EQ(lt_create(c, "wd2", 0, &r), 0);
  lt_res_t d;
  ASSERT_EQ(lt_download(c, "wd", "/workspace/real", &d), 0);
  ASSERT_EQ(lt_upload(c, "wd2", NULL, NULL, 0, d.data, d.data_len, &r), 0);
  lt_res_free(&d);
  lt_sh(c, "wd2", "cat sub/x.txt", &r);
  ASSERT_STR_EQ(r.out, "x");
  lt_res_free(&r);

  lt_close(c);
  lt_rmroot(root);
  lt_rmroot(outside);
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
