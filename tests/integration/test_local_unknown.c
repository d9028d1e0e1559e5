/*
 * Unknown sandboxes on the local backend: exec (argv and shell), upload,
 * download, touch and wait_ready of an id that was never made, was deleted
 * or has expired fail with NOX_ENOTFOUND and a message naming the id, and
 * nothing is made on disk. Only with local_auto_create (compatibility with
 * the Python client's local mode) does an exec make the sandbox, with the
 * default TTL, and run there. The option belongs to layout 3 of
 * nox_client_options_t: a program built against layout 2 never has it read.
 */
#include "local_util.h"

/* How many entries root holds besides ".", ".." and its lock file. */
static int entries(const char *root) {
  DIR *d = opendir(root);
  struct dirent *de;
  int n = 0;
  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
        strcmp(de->d_name, ".lock") != 0)
      n++;
  closedir(d);
  return n;
}

/* The message of r names id, quoted. */
static void names(const lt_res_t *r, const char *id) {
  char want[300];
  snprintf(want, sizeof(want), "no sandbox \"%s\"", id);
  if (strstr(r->msg, want) == NULL)
    fprintf(stderr, "message \"%s\" does not say %s\n", r->msg, want);
  ASSERT(strstr(r->msg, want) != NULL);
}

/* Every operation but create and delete on id: NOX_ENOTFOUND, named. */
static void expect_unknown(nox_client_t *c, const char *id) {
  uv_loop_t *loop = nox_client_loop(c);
  const char *argv[] = {"sh", "-c", "echo ran > ran.txt", NULL};
  nox_file_t f = {"f.txt", "x", 1, 0};
  nox_wait_options_t wo = NOX_WAIT_OPTIONS_INIT;
  lt_res_t r;

  ASSERT_EQ(lt_exec_opts(c, id, argv, NULL, &r), NOX_ENOTFOUND);
  names(&r, id);
  lt_res_free(&r);

  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_exec_shell(NULL, c, id, "sh", "echo ran", NULL, lt_on_exec, &r),
            0);
  lt_wait(loop, &r);
  ASSERT_EQ(r.status, NOX_ENOTFOUND);
  names(&r, id);
  lt_res_free(&r);

  ASSERT_EQ(lt_upload(c, id, NULL, &f, 1, NULL, 0, &r), NOX_ENOTFOUND);
  names(&r, id);
  lt_res_free(&r);

  ASSERT_EQ(lt_download(c, id, NULL, &r), NOX_ENOTFOUND);
  names(&r, id);
  ASSERT_EQ(r.data_len, 0);
  lt_res_free(&r);

  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_touch(NULL, c, id, lt_on_done, &r), 0);
  lt_wait(loop, &r);
  ASSERT_EQ(r.status, NOX_ENOTFOUND);
  names(&r, id);

  /* Not found is not retried: the wait ends with it, not at its deadline. */
  wo.timeout_ms = 120000;
  wo.interval_ms = 10;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_wait_ready(NULL, c, id, &wo, lt_on_done, &r), 0);
  lt_wait(loop, &r);
  ASSERT_EQ(r.status, NOX_ENOTFOUND);
}

static nox_client_t *client(uv_loop_t *loop, const char *root, int auto_create,
                            uint32_t reap_ms) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.isolation = NOX_ISOLATION_NONE;
  o.local_auto_create = auto_create;
  o.reap_interval_ms = reap_ms;
  return lt_client_with(loop, root, &o);
}

static void check_strict(uv_loop_t *loop, const char *root) {
  nox_client_t *c = client(loop, root, 0, 3600 * 1000);
  lt_res_t r;
  int before = entries(root);

  /* Never made: nothing answers, and nothing appears under the root. */
  expect_unknown(c, "never-made");
  expect_unknown(c, "odd id/with\"quote");
  ASSERT_EQ(lt_count_sandboxes(root), 0);
  ASSERT_EQ(entries(root), before);

  /* Made, used, deleted: gone for exec too, and not made again. */
  ASSERT_EQ(lt_create(c, "gone", 0, &r), 0);
  lt_sh(c, "gone", "echo hi", &r);
  ASSERT_STR_EQ(r.out, "hi\n");
  lt_res_free(&r);
  ASSERT_EQ(lt_count_sandboxes(root), 1);
  ASSERT_EQ(lt_simple(nox_delete, c, "gone"), 0);
  expect_unknown(c, "gone");
  ASSERT_EQ(lt_count_sandboxes(root), 0);

  /*
   * Expired, not yet reaped (this client's reaper waits an hour): its
   * directory is still there, but the sandbox is gone, and an exec does
   * not bring it back with a fresh TTL.
   */
  ASSERT_EQ(lt_create(c, "expired", 1, &r), 0);
  ASSERT_EQ(lt_count_sandboxes(root), 1);
  while (time(NULL) <= r.expires_unix)
    lt_sleep(loop, 100);
  expect_unknown(c, "expired");
  ASSERT_EQ(lt_count_sandboxes(root), 0);
  lt_close(c);
}

static void check_auto_create(uv_loop_t *loop, const char *root) {
  nox_client_t *c = client(loop, root, 1, 0);
  const char *argv[] = {"sh", "-c", "echo made > made.txt; echo ran", NULL};
  nox_file_t f = {"f.txt", "x", 1, 0};
  lt_res_t r;

  ASSERT_EQ(lt_count_sandboxes(root), 0);
  ASSERT_EQ(lt_exec_opts(c, "by-exec", argv, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.out, "ran\n");
  lt_res_free(&r);
  ASSERT_EQ(lt_count_sandboxes(root), 1);
  /* A real sandbox: it keeps its files and takes every operation. */
  lt_sh(c, "by-exec", "cat made.txt", &r);
  ASSERT_STR_EQ(r.out, "made\n");
  lt_res_free(&r);
  ASSERT_EQ(lt_simple(nox_touch, c, "by-exec"), 0);
  ASSERT_EQ(lt_simple(nox_delete, c, "by-exec"), 0);

  /* Only exec makes one: the others still say not found. */
  ASSERT_EQ(lt_upload(c, "up-only", NULL, &f, 1, NULL, 0, &r), NOX_ENOTFOUND);
  names(&r, "up-only");
  ASSERT_EQ(lt_download(c, "down-only", NULL, &r), NOX_ENOTFOUND);
  lt_res_free(&r);
  ASSERT_EQ(lt_simple(nox_touch, c, "touch-only"), NOX_ENOTFOUND);
  ASSERT_EQ(lt_count_sandboxes(root), 0);
  lt_close(c);
}

/*
 * A program built against layout 2 passes a struct that ends where
 * local_auto_create begins: whatever lies past it is never read.
 */
static void check_layout(uv_loop_t *loop, const char *root) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  const char *argv[] = {"true", NULL};
  char url[600];
  nox_client_t *c = NULL;
  lt_res_t r;

  snprintf(url, sizeof(url), "local://%s", root);
  o.base_url = url;
  o.isolation = NOX_ISOLATION_NONE;
  o.local_auto_create = 1; /* stands for what follows an older struct */
  o.version = 2;
  ASSERT_EQ(nox_client_new(&c, loop, &o), 0);
  ASSERT_EQ(lt_exec_opts(c, "layout2", argv, NULL, &r), NOX_ENOTFOUND);
  lt_res_free(&r);
  lt_close(c);
  ASSERT_EQ(lt_count_sandboxes(root), 0);

  o.version = 3;
  ASSERT_EQ(NOX_CLIENT_OPTIONS_VERSION, 3);
  ASSERT_EQ(nox_client_new(&c, loop, &o), 0);
  ASSERT_EQ(lt_exec_opts(c, "layout3", argv, NULL, &r), 0);
  lt_res_free(&r);
  ASSERT_EQ(lt_simple(nox_delete, c, "layout3"), 0);
  lt_close(c);

  o.version = 4;
  ASSERT_EQ(nox_client_new(&c, loop, &o), NOX_EINVAL);
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot();

  ASSERT_EQ(uv_loop_init(&loop), 0);
  check_strict(&loop, root);
  check_auto_create(&loop, root);
  check_layout(&loop, root);
  lt_rmroot(root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
