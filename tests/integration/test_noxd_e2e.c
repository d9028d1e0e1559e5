/*
 * Every operation end to end: the library's HTTP backend against noxd,
 * which serves them from its own local backend. argv[1] is noxd's
 * --isolation (default none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <noxrunner.h>

#include "noxd_util.h"
#include "test.h"

static uv_loop_t loop;
static nox_client_t *client;

/* The outcome of the last operation, filled by the callbacks below. */
static struct {
  bool done;
  int status;
  long http_status;
  char message[256];
  int exit_code;
  char *out, *err;
  size_t out_len, err_len;
  char pod[256];
  int64_t expires;
  char *data;
  size_t data_len;
} last;

static void reset(void) {
  free(last.out);
  free(last.err);
  free(last.data);
  memset(&last, 0, sizeof(last));
}

static void note(nox_req_t *req, int status) {
  const nox_error_t *e = nox_req_error(req);
  last.done = true;
  last.status = status;
  last.http_status = e->http_status;
  snprintf(last.message, sizeof(last.message), "%s", e->message);
}

static int wait_done(void) {
  while (!last.done)
    uv_run(&loop, UV_RUN_ONCE);
  return last.status;
}

static void on_done(nox_req_t *req, int status) {
  note(req, status);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  note(req, status);
  if (status == 0) {
    snprintf(last.pod, sizeof(last.pod), "%s", info->pod_name);
    last.expires = info->expires_at_unix;
  }
}

static char *dup_bytes(const char *p, size_t n) {
  char *d = malloc(n + 1);
  ASSERT(d != NULL);
  memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  note(req, status);
  if (status == 0) {
    last.exit_code = r->exit_code;
    last.out = dup_bytes(r->out, r->out_len);
    last.out_len = r->out_len;
    last.err = dup_bytes(r->err, r->err_len);
    last.err_len = r->err_len;
  }
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  char *p = realloc(last.data, last.data_len + len);
  ASSERT(p != NULL);
  memcpy(p + last.data_len, buf, len);
  last.data = p;
  last.data_len += len;
  return 0;
}

static int create(const char *id, uint32_t ttl) {
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  reset();
  o.ttl_seconds = ttl;
  ASSERT_EQ(nox_create(NULL, client, id, &o, on_create, NULL), 0);
  return wait_done();
}

static int shell(const char *id, const char *script,
                 const nox_exec_options_t *o) {
  reset();
  ASSERT_EQ(nox_exec_shell(NULL, client, id, "sh", script, o, on_exec, NULL),
            0);
  return wait_done();
}

static int simple(int (*op)(nox_req_t **, nox_client_t *, const char *,
                            nox_req_cb, void *),
                  const char *id) {
  reset();
  ASSERT_EQ(op(NULL, client, id, on_done, NULL), 0);
  return wait_done();
}

static void check_exec(void) {
  const char *argv[] = {"echo", "hello", "world", NULL};
  const char *env[] = {"GREETING=hi there", "EMPTY=", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;

  reset();
  ASSERT_EQ(nox_exec(NULL, client, "e2e-a", argv, NULL, on_exec, NULL), 0);
  ASSERT_EQ(wait_done(), 0);
  ASSERT_EQ(last.exit_code, 0);
  ASSERT_STR_EQ(last.out, "hello world\n");

  ASSERT_EQ(shell("e2e-a", "echo out; echo err >&2; exit 3", NULL), 0);
  ASSERT_EQ(last.exit_code, 3);
  ASSERT_STR_EQ(last.out, "out\n");
  ASSERT_STR_EQ(last.err, "err\n");

  o.env = env;
  ASSERT_EQ(
      shell("e2e-a", "printf '%s|%s' \"$GREETING\" \"${EMPTY-unset}\"", &o), 0);
  ASSERT_STR_EQ(last.out, "hi there|");

  /* A relative workdir is taken from /workspace. */
  ASSERT_EQ(shell("e2e-a", "mkdir -p sub/dir", NULL), 0);
  ASSERT_EQ(last.exit_code, 0);
  o.env = NULL;
  o.workdir = "/workspace/sub/dir";
  ASSERT_EQ(shell("e2e-a", "basename \"$(pwd)\"", &o), 0);
  ASSERT_STR_EQ(last.out, "dir\n");
  o.workdir = "sub";
  ASSERT_EQ(shell("e2e-a", "basename \"$(pwd)\"", &o), 0);
  ASSERT_STR_EQ(last.out, "sub\n");

  /* Bytes that are not UTF-8 come back as U+FFFD, in valid JSON. */
  ASSERT_EQ(shell("e2e-a", "printf 'a\\377b\\303'", NULL), 0);
  ASSERT_EQ(last.out_len, 8);
  ASSERT_MEM_EQ(last.out,
                "a\xEF\xBF\xBD"
                "b\xEF\xBF\xBD",
                8);
  ASSERT_EQ(shell("e2e-a", "printf 'caf\\303\\251 \\342\\202\\254'", NULL), 0);
  ASSERT_STR_EQ(last.out, "caf\xC3\xA9 \xE2\x82\xAC");

  /* The reference local backend's conventions pass through noxd. */
  ASSERT_EQ(shell("e2e-a", "exec no-such-program-here", NULL), 0);
  ASSERT_EQ(last.exit_code, 127);
  o.workdir = NULL;
  o.timeout_seconds = 1;
  ASSERT_EQ(shell("e2e-a", "sleep 20", &o), 0);
  ASSERT_EQ(last.exit_code, 124);
}

static void check_files(void) {
  static const char b_bin[] = "line one\nline two\n";
  nox_file_t files[] = {{"a.txt", "hello file", 10, 0},
                        {"dir/b.txt", b_bin, sizeof(b_bin) - 1, 0600}};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  nox_download_options_t down = NOX_DOWNLOAD_OPTIONS_INIT;
  char *archive;
  size_t archive_len;

  up.files = files;
  up.nfiles = 2;
  reset();
  ASSERT_EQ(nox_upload(NULL, client, "e2e-a", &up, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), 0);
  ASSERT_EQ(shell("e2e-a", "cat a.txt; echo; cat dir/b.txt", NULL), 0);
  ASSERT_STR_EQ(last.out, "hello file\nline one\nline two\n");

  /* Into a sub-directory given by dest. */
  up.dest = "/workspace/in";
  reset();
  ASSERT_EQ(nox_upload(NULL, client, "e2e-a", &up, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), 0);
  ASSERT_EQ(shell("e2e-a", "cat in/a.txt", NULL), 0);
  ASSERT_STR_EQ(last.out, "hello file");

  /* Download the workspace, then upload those raw bytes elsewhere. */
  reset();
  ASSERT_EQ(nox_download(NULL, client, "e2e-a", &down, on_data, on_done, NULL),
            0);
  ASSERT_EQ(wait_done(), 0);
  ASSERT_GT(last.data_len, 0);
  archive = last.data;
  archive_len = last.data_len;
  last.data = NULL;

  ASSERT_EQ(create("e2e-b", 60), 0);
  up.files = NULL;
  up.nfiles = 0;
  up.dest = NULL;
  up.archive = archive;
  up.archive_len = archive_len;
  reset();
  ASSERT_EQ(nox_upload(NULL, client, "e2e-b", &up, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), 0);
  free(archive);
  ASSERT_EQ(shell("e2e-b", "cat a.txt dir/b.txt in/a.txt", NULL), 0);
  ASSERT_STR_EQ(last.out, "hello fileline one\nline two\nhello file");

  /* A sub-directory as src. */
  down.src = "/workspace/dir";
  reset();
  ASSERT_EQ(nox_download(NULL, client, "e2e-b", &down, on_data, on_done, NULL),
            0);
  ASSERT_EQ(wait_done(), 0);
  ASSERT_GT(last.data_len, 0);

  /*
   * A bad archive is the caller's fault: noxd refuses it with a 400, its
   * reason and "code": "NOX_EARCHIVE", the local backend's code.
   */
  up.archive = "definitely not a tarball";
  up.archive_len = strlen(up.archive);
  reset();
  ASSERT_EQ(nox_upload(NULL, client, "e2e-b", &up, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), NOX_EARCHIVE);
  ASSERT_EQ(last.http_status, 400);
  ASSERT(last.message[0] != '\0');
}

/* A body past noxd's first allocation, both ways. */
static void check_big_file(void) {
  const size_t n = (size_t)3 << 20;
  char *data = malloc(n);
  unsigned rng = 7;
  nox_file_t f = {"big.bin", data, n, 0};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  nox_download_options_t down = NOX_DOWNLOAD_OPTIONS_INIT;

  ASSERT(data != NULL);
  /* Incompressible, so the archive is as big as the file. */
  for (size_t i = 0; i < n; i++) {
    rng = rng * 1103515245u + 12345u;
    data[i] = (char)(rng >> 16);
  }
  up.files = &f;
  up.nfiles = 1;
  up.dest = "/workspace/big";
  reset();
  ASSERT_EQ(nox_upload(NULL, client, "e2e-a", &up, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), 0);
  free(data);
  ASSERT_EQ(shell("e2e-a", "wc -c < big/big.bin", NULL), 0);
  ASSERT_EQ(atol(last.out), (long)n);

  down.src = "/workspace/big";
  reset();
  ASSERT_EQ(nox_download(NULL, client, "e2e-a", &down, on_data, on_done, NULL),
            0);
  ASSERT_EQ(wait_done(), 0);
  ASSERT_GT(last.data_len, n);
  ASSERT_EQ(shell("e2e-a", "rm -r big", NULL), 0);
}

/* Ids are any string: percent-encoded by the client, decoded by noxd. */
static void check_odd_ids(void) {
  static const char *const ids[] = {"a/b", "a b", "x%2Fy", "q?r#s&t=u",
                                    "caf\xC3\xA9", ".", ".."};
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    char script[64];
    ASSERT_EQ(create(ids[i], 60), 0);
    snprintf(script, sizeof(script), "echo %zu > mark; cat mark", i);
    ASSERT_EQ(shell(ids[i], script, NULL), 0);
    ASSERT_EQ(last.exit_code, 0);
  }
  /* Each id is its own sandbox. */
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    char want[16];
    snprintf(want, sizeof(want), "%zu\n", i);
    ASSERT_EQ(shell(ids[i], "cat mark", NULL), 0);
    ASSERT_STR_EQ(last.out, want);
    ASSERT_EQ(simple(nox_delete, ids[i]), 0);
  }
}

/*
 * "." and ".." as ids, sent as %2E: noxd splits the path before decoding,
 * so they are ids like any other, never dot-segments.
 */
static void check_dot_ids(const noxd_test_t *t) {
  static const char *const ids[] = {"%2E", "%2E%2E", "%2e%2E%2e"};
  const char *json =
      "{\"cmd\":[\"sh\",\"-c\",\"cat mark 2>/dev/null; echo $0 > mark\","
      "\"m\"]}";
  noxd_http_opts_t o = {NULL, json, strlen(json), false};
  char url[512], *body;

  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    snprintf(url, sizeof(url), "%s/v1/sandboxes/%s", t->srv.url, ids[i]);
    ASSERT_EQ(noxd_http("PUT", url, NULL, NULL, NULL), 200);
  }
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
      snprintf(url, sizeof(url), "%s/v1/sandboxes/%s/exec", t->srv.url, ids[i]);
      ASSERT_EQ(noxd_http("POST", url, &o, &body, NULL), 200);
      /* Round two reads the mark of round one: one sandbox per id. */
      ASSERT(strstr(body, round == 0 ? "\"stdout\":\"\""
                                     : "\"stdout\":\"m\\n\"") != NULL);
      free(body);
    }
  }
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    snprintf(url, sizeof(url), "%s/v1/sandboxes/%s", t->srv.url, ids[i]);
    ASSERT_EQ(noxd_http("DELETE", url, NULL, NULL, NULL), 204);
  }
}

static void on_closed(void *data) {
  *(bool *)data = true;
}

int main(int argc, char **argv) {
  const char *isolation = argc > 1 ? argv[1] : "none";
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_wait_options_t wopts = NOX_WAIT_OPTIONS_INIT;
  noxd_test_t t;
  bool closed = false;
  int64_t now = (int64_t)time(NULL);

  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(noxd_test_start(&t, isolation, NULL), 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  opts.base_url = t.srv.url;
  opts.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&client, &loop, &opts), 0);

  reset();
  ASSERT_EQ(nox_health(NULL, client, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), 0);

  ASSERT_EQ(create("e2e-a", 120), 0);
  ASSERT(last.pod[0] != '\0');
  ASSERT_GE(last.expires, now + 110);
  ASSERT_LE(last.expires, now + 130 + 60);
  /* Create is idempotent. */
  ASSERT_EQ(create("e2e-a", 120), 0);

  ASSERT_EQ(simple(nox_touch, "e2e-a"), 0);
  ASSERT_EQ(simple(nox_touch, "e2e-never"), NOX_ENOTFOUND);
  ASSERT_EQ(last.http_status, 404);
  ASSERT(last.message[0] != '\0');
  /* exec does not make an unknown sandbox either: 404, and still none. */
  ASSERT_EQ(shell("e2e-never", "true", NULL), NOX_ENOTFOUND);
  ASSERT_EQ(last.http_status, 404);
  ASSERT(strstr(last.message, "e2e-never") != NULL);
  ASSERT_EQ(simple(nox_touch, "e2e-never"), NOX_ENOTFOUND);

  check_exec();
  check_files();
  check_big_file();
  check_odd_ids();
  check_dot_ids(&t);

  wopts.timeout_ms = 10000;
  wopts.interval_ms = 100;
  reset();
  ASSERT_EQ(nox_wait_ready(NULL, client, "e2e-a", &wopts, on_done, NULL), 0);
  ASSERT_EQ(wait_done(), 0);

  ASSERT_EQ(simple(nox_delete, "e2e-a"), 0);
  ASSERT_EQ(simple(nox_delete, "e2e-a"), NOX_ENOTFOUND);
  ASSERT_EQ(simple(nox_touch, "e2e-a"), NOX_ENOTFOUND);
  ASSERT_EQ(simple(nox_delete, "e2e-b"), 0);

  reset();
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(closed);
  ASSERT_EQ(noxd_test_stop(&t), 0);
  nox_library_cleanup();
  return 0;
}
