/*
 * The local backend end to end through the public API, in each isolation
 * mode this machine offers: health, create (idempotent), touch, exec (exit
 * codes, signals, 127), upload of files and archives, download, delete,
 * exec auto-creating its sandbox, and refused archives.
 */
#include <time.h>

#include "local_util.h"

static void check_lifecycle(nox_client_t *c, const char *root) {
  lt_res_t r;
  int64_t now = (int64_t)time(NULL);

  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_health(NULL, c, lt_on_done, &r), 0);
  lt_wait(nox_client_loop(c), &r);
  ASSERT_EQ(r.status, 0);

  ASSERT_EQ(lt_create(c, "alpha", 60, &r), 0);
  ASSERT(r.pod[0] != '\0');
  ASSERT_GE(r.expires_unix, now + 59);
  ASSERT_LE(r.expires_unix, now + 62);
  /* Idempotent: the same sandbox, with its expiry renewed. */
  ASSERT_EQ(lt_create(c, "alpha", 120, &r), 0);
  ASSERT_GE(r.expires_unix, now + 119);
  ASSERT_EQ(lt_count_sandboxes(root), 1);
  ASSERT_EQ(lt_simple(nox_touch, c, "alpha"), 0);
}

static void check_exec(nox_client_t *c) {
  lt_res_t r;
  const char *echo[] = {"echo", "hello", "world", NULL};
  const char *missing[] = {"no-such-program-here", "x", NULL};
  const char *missing_abs[] = {"/usr/bin/no-such-program", NULL};

  ASSERT_EQ(lt_exec_opts(c, "alpha", echo, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.out, "hello world\n");
  ASSERT_EQ(r.err_len, 0);
  lt_res_free(&r);

  /* argv is not a shell command line: nothing is interpreted. */
  const char *literal[] = {"echo", "$HOME", "*", ";", "ls", NULL};
  ASSERT_EQ(lt_exec_opts(c, "alpha", literal, NULL, &r), 0);
  ASSERT_STR_EQ(r.out, "$HOME * ; ls\n");
  lt_res_free(&r);

  lt_sh(c, "alpha", "echo out; echo err >&2; exit 3", &r);
  ASSERT_EQ(r.exit_code, 3);
  ASSERT_STR_EQ(r.out, "out\n");
  ASSERT_STR_EQ(r.err, "err\n");
  lt_res_free(&r);

  lt_sh(c, "alpha", "kill -TERM $$", &r);
  ASSERT_EQ(r.exit_code, 128 + 15);
  lt_res_free(&r);

  ASSERT_EQ(lt_exec_opts(c, "alpha", missing, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 127);
  ASSERT(strstr(r.err, "no-such-program-here") != NULL);
  lt_res_free(&r);
  ASSERT_EQ(lt_exec_opts(c, "alpha", missing_abs, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 127);
  lt_res_free(&r);

  /* A file that is there but not executable: 126, as a shell says. */
  lt_sh(c, "alpha", "printf 'echo hi' > notexec; chmod 644 notexec", &r);
  lt_res_free(&r);
  const char *notexec[] = {"/workspace/notexec", NULL};
  ASSERT_EQ(lt_exec_opts(c, "alpha", notexec, NULL, &r), 0);
  if (getuid() != 0) /* root may execute anything with an x bit; none here */
    ASSERT_EQ(r.exit_code, 126);
  else
    ASSERT(r.exit_code == 126 || r.exit_code == 127);
  lt_res_free(&r);

  /* The working directory defaults to /workspace and may be below it. */
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  const char *pwd[] = {"sh", "-c", "pwd; echo x > here", NULL};
  o.workdir = "/workspace/sub/dir";
  ASSERT_EQ(lt_exec_opts(c, "alpha", pwd, &o, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT(strstr(r.out, "/sub/dir\n") != NULL);
  lt_res_free(&r);
  lt_sh(c, "alpha", "cat sub/dir/here", &r);
  ASSERT_STR_EQ(r.out, "x\n");
  lt_res_free(&r);
}

static void check_files(nox_client_t *c) {
  lt_res_t r, d;
  nox_file_t files[] = {
      {"a.txt", "alpha file\n", 11, 0},
      {"dir/run.sh", "#!/bin/sh\necho ran\n", 19, 0755},
      {"dir/empty", NULL, 0, 0},
  };

  ASSERT_EQ(lt_upload(c, "alpha", NULL, files, 3, NULL, 0, &r), 0);
  lt_sh(c, "alpha", "cat a.txt; ./dir/run.sh; test -f dir/empty && echo ok",
        &r);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.out, "alpha file\nran\nok\n");
  lt_res_free(&r);

  /* Upload to a destination below /workspace that does not exist yet. */
  ASSERT_EQ(lt_upload(c, "alpha", "/workspace/deep/er", files, 1, NULL, 0, &r),
            0);
  lt_sh(c, "alpha", "cat deep/er/a.txt", &r);
  ASSERT_STR_EQ(r.out, "alpha file\n");
  lt_res_free(&r);

  /* The whole workspace comes back as a tar.gz another sandbox accepts. */
  ASSERT_EQ(lt_download(c, "alpha", NULL, &d), 0);
  ASSERT_GT(d.data_len, 20);
  ASSERT_EQ((unsigned char)d.data[0], 0x1f);
  ASSERT_EQ((unsigned char)d.data[1], 0x8b);
  /* Unlike exec, upload does not make the sandbox. */
  ASSERT_EQ(lt_upload(c, "beta", NULL, NULL, 0, d.data, d.data_len, &r),
            NOX_ENOTFOUND);
  ASSERT_EQ(lt_create(c, "beta", 0, &r), 0);
  ASSERT_EQ(
      lt_upload(c, "beta", "/workspace/copy", NULL, 0, d.data, d.data_len, &r),
      0);
  lt_sh(c, "beta", "cat copy/a.txt copy/deep/er/a.txt; copy/dir/run.sh", &r);
  ASSERT_STR_EQ(r.out, "alpha file\nalpha file\nran\n");
  lt_res_free(&r);
  lt_res_free(&d);

  /* A single file downloads as a one-member archive named by it. */
  ASSERT_EQ(lt_download(c, "alpha", "/workspace/dir/run.sh", &d), 0);
  ASSERT_EQ(lt_upload(c, "beta", NULL, NULL, 0, d.data, d.data_len, &r), 0);
  lt_sh(c, "beta", "./run.sh", &r);
  ASSERT_STR_EQ(r.out, "ran\n");
  lt_res_free(&r);
  lt_res_free(&d);

  ASSERT_EQ(lt_download(c, "alpha", "/workspace/missing", &d), NOX_ENOTFOUND);
  lt_res_free(&d);

  /* Refused archives say which member and why; nothing lands outside. */
  lt_tar_t t = {NULL, 0};
  lt_tar_add(&t, "fine.txt", '0', NULL, "fine");
  lt_tar_add(&t, "../escape.txt", '0', NULL, "bad");
  lt_tar_end(&t);
  ASSERT_EQ(lt_upload(c, "beta", NULL, NULL, 0, t.data, t.len, &r),
            NOX_EARCHIVE);
  ASSERT(strstr(r.msg, "../escape.txt") != NULL);
  free(t.data);

  memset(&t, 0, sizeof(t));
  lt_tar_add(&t, "link", '2', "/etc", NULL);
  lt_tar_end(&t);
  ASSERT_EQ(lt_upload(c, "beta", NULL, NULL, 0, t.data, t.len, &r),
            NOX_EARCHIVE);
  ASSERT(strstr(r.msg, "link") != NULL);
  free(t.data);

  ASSERT_EQ(
      lt_upload(c, "beta", NULL, NULL, 0, "not an archive at all", 21, &r),
      NOX_EARCHIVE);
  lt_sh(c, "beta", "ls /workspace/../escape.txt 2>/dev/null; ls", &r);
  ASSERT(strstr(r.out, "escape") == NULL);
  ASSERT(strstr(r.out, "fine.txt") != NULL); /* the member before it */
  lt_res_free(&r);
}

static void check_delete(nox_client_t *c, const char *root) {
  lt_res_t r;
  const char *echo[] = {"echo", "auto", NULL};
  int before = lt_count_sandboxes(root);

  ASSERT_EQ(lt_simple(nox_delete, c, "alpha"), 0);
  ASSERT_EQ(lt_count_sandboxes(root), before - 1);
  ASSERT_EQ(lt_simple(nox_delete, c, "alpha"), NOX_ENOTFOUND);
  ASSERT_EQ(lt_simple(nox_touch, c, "alpha"), NOX_ENOTFOUND);
  ASSERT_EQ(lt_download(c, "alpha", NULL, &r), NOX_ENOTFOUND);
  lt_res_free(&r);

  /* exec of an unknown session fails and makes nothing (the spec's 404). */
  ASSERT_EQ(lt_exec_opts(c, "never-made", echo, NULL, &r), NOX_ENOTFOUND);
  ASSERT(strstr(r.msg, "\"never-made\"") != NULL);
  lt_res_free(&r);
  ASSERT_EQ(lt_count_sandboxes(root), before - 1);
  ASSERT_EQ(lt_exec_opts(c, "alpha", echo, NULL, &r), NOX_ENOTFOUND);
  lt_res_free(&r);
  ASSERT_EQ(lt_count_sandboxes(root), before - 1);
  ASSERT_EQ(lt_simple(nox_delete, c, "beta"), 0);
  ASSERT_EQ(lt_count_sandboxes(root), 0);
}

/* A request's callback finds the caller's state through its client. */
static void on_touch_data(nox_req_t *req, int status) {
  int *seen = nox_client_data(nox_req_client(req));
  ASSERT(seen != NULL);
  ASSERT_EQ(status, 0);
  (*seen)++;
}

/* The client's user pointer: NULL at first, kept across every other call. */
static void check_user_data(nox_client_t *c) {
  int seen = 0;
  ASSERT(nox_client_data(c) == NULL);
  nox_client_set_data(c, &seen);
  ASSERT(nox_client_data(c) == &seen);
  ASSERT_EQ(nox_exec(NULL, c, "ud", NULL, NULL, NULL, NULL), NOX_EINVAL);
  ASSERT(nox_client_data(c) == &seen);
  lt_res_t r;
  ASSERT_EQ(lt_create(c, "ud", 60, &r), 0);
  ASSERT_EQ(nox_touch(NULL, c, "ud", on_touch_data, NULL), 0);
  while (seen == 0)
    uv_run(nox_client_loop(c), UV_RUN_ONCE);
  ASSERT_EQ(seen, 1);
  ASSERT_EQ(lt_simple(nox_delete, c, "ud"), 0);
  nox_client_set_data(c, NULL);
  ASSERT(nox_client_data(c) == NULL);
  nox_client_set_data(NULL, &seen); /* harmless */
  ASSERT(nox_client_data(NULL) == NULL);
}

static void run(uv_loop_t *loop, int isolation) {
  char *root = lt_mkroot();
  nox_client_t *c = lt_client(loop, root, isolation);

  check_user_data(c);
  check_lifecycle(c, root);
  check_exec(c);
  check_files(c);
  check_delete(c, root);
  lt_close(c);
  lt_rmroot(root);
}

int main(void) {
  uv_loop_t loop;
  char *probe_root;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  run(&loop, NOX_ISOLATION_NONE);
  probe_root = lt_mkroot();
  if (lt_have_bwrap(&loop, probe_root))
    run(&loop, NOX_ISOLATION_BWRAP);
  else
    printf("bwrap unusable here: isolated mode not exercised\n");
  lt_rmroot(probe_root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
