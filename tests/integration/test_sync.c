/*
 * The blocking API against faultd: results copied to the caller, errors and
 * their detail, the download cap, re-entry from a callback, connection reuse
 * across calls, and clean teardown (run it under ASan). On the local
 * backend: nox_sync_download_to() with an extract_dir sink and no data
 * callback unpacks into the directory, and the deprecated
 * nox_sync_download_cb() still does the same.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "noxrunner.h"
#include "noxrunner/sync.h"

#include "harness.h"
#include "local_util.h"
#include "test.h"

#define EXPIRES_AT "2030-01-02T03:04:05Z"
#define EXPIRES_AT_UNIX 1893553445LL

static nox_test_server_t faultd;

/* Out-parameters start pointing here, to prove that failures reset them. */
static nox_exec_result_t stale_result;
static nox_sandbox_info_t stale_info;
static char stale_bytes[1];

/* A blocking client on faultd, with a fault spec when spec is not NULL. */
static nox_sync_t *sync_on(const char *spec, size_t max_body) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  char url[512];
  nox_sync_t *s = NULL;

  if (spec != NULL)
    snprintf(url, sizeof(url), "%s/f/%s", faultd.url, spec);
  else
    snprintf(url, sizeof(url), "%s", faultd.url);
  opts.base_url = url;
  opts.max_body_bytes = max_body;
  opts.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_sync_new(&s, &opts), 0);
  ASSERT(s != NULL);
  return s;
}

static void check_pattern(const unsigned char *p, size_t off, size_t len) {
  size_t i;

  for (i = 0; i < len; i++)
    ASSERT_EQ(p[i], (off + i) % 251);
}

static void assert_no_error(nox_sync_t *s) {
  ASSERT_EQ(nox_sync_last_error(s)->code, 0);
}

typedef struct {
  size_t total;
  int chunks;
  int bad_bytes;
} sink_t;

static int counting_sink(void *data, const char *buf, size_t len) {
  sink_t *k = data;
  size_t i;

  for (i = 0; i < len; i++)
    if ((unsigned char)buf[i] != (k->total + i) % 251)
      k->bad_bytes++;
  k->total += len;
  k->chunks++;
  return 0;
}

/* Every call succeeds, returns faultd's answer, and shares one connection. */
static void test_every_call_succeeds(void) {
  const char *const argv[] = {"echo", "hello", "sync world", NULL};
  static const char hello[] = "line one\nline two\n";
  nox_file_t file = {"dir/hello.txt", hello, sizeof(hello) - 1, 0600};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  nox_wait_options_t wait = NOX_WAIT_OPTIONS_INIT;
  nox_sandbox_info_t *info = NULL;
  nox_exec_result_t *res = NULL;
  yajl_val log;
  sink_t sink = {0, 0, 0};
  void *buf = NULL;
  size_t len = 0;
  nox_sync_t *s;

  ASSERT_EQ(nox_test_faultd_reset(&faultd), 0);
  s = sync_on(NULL, 0);

  ASSERT_EQ(nox_sync_health(s), 0);
  assert_no_error(s);

  ASSERT_EQ(nox_sync_create(&info, s, "s1", NULL), 0);
  ASSERT(info != NULL);
  ASSERT_STR_EQ(info->pod_name, "pod-s1");
  ASSERT_STR_EQ(info->expires_at, EXPIRES_AT);
  ASSERT_EQ(info->expires_at_unix, EXPIRES_AT_UNIX);
  nox_sandbox_info_free(info);
  /* out may be NULL when the caller only wants the sandbox to exist. */
  ASSERT_EQ(nox_sync_create(NULL, s, "s1", NULL), 0);

  ASSERT_EQ(nox_sync_exec(&res, s, "s1", argv, NULL), 0);
  ASSERT(res != NULL);
  ASSERT_EQ(res->exit_code, 0);
  ASSERT_EQ(res->duration_ms, 7);
  ASSERT_EQ(res->out_len, strlen("echo hello sync world"));
  ASSERT_STR_EQ(res->out, "echo hello sync world");
  ASSERT_EQ(res->err_len, 0);
  ASSERT_STR_EQ(res->err, "");
  nox_exec_result_free(res);

  ASSERT_EQ(nox_sync_exec_shell(&res, s, "s1", "bash", "echo $HOME", NULL), 0);
  ASSERT_STR_EQ(res->out, "bash -c echo $HOME");
  nox_exec_result_free(res);

  ASSERT_EQ(nox_sync_touch(s, "s1"), 0);

  up.files = &file;
  up.nfiles = 1;
  ASSERT_EQ(nox_sync_upload(s, "s1", &up), 0);

  ASSERT_EQ(nox_sync_download(&buf, &len, s, "s1", NULL), 0);
  ASSERT(buf != NULL);
  ASSERT_EQ(len, 4096);
  check_pattern(buf, 0, len);
  nox_free(buf);

  ASSERT_EQ(nox_sync_download_to(s, "s1", NULL, counting_sink, &sink), 0);
  ASSERT_EQ(sink.total, 4096);
  ASSERT_GE(sink.chunks, 1);
  ASSERT_EQ(sink.bad_bytes, 0);

  wait.interval_ms = 10;
  ASSERT_EQ(nox_sync_wait_ready(s, "s1", &wait), 0);

  ASSERT_EQ(nox_sync_delete(s, "s1"), 0);
  assert_no_error(s);

  /* Eleven calls, one connection: the client survived between them. */
  ASSERT_EQ(nox_test_faultd_stat(&faultd, "requests"), 11);
  ASSERT_EQ(nox_test_faultd_stat(&faultd, "connections_total"), 1);

  log = nox_test_faultd_log(&faultd);
  ASSERT(log != NULL && YAJL_IS_ARRAY(log));
  ASSERT_EQ(log->u.array.len, 11);
  {
    yajl_val upload = log->u.array.values[6];

    ASSERT_STR_EQ(nox_test_json_str(upload, "method", NULL), "POST");
    ASSERT_STR_EQ(nox_test_json_str(upload, "path", NULL),
                  "/v1/sandboxes/s1/files/upload");
    ASSERT_STR_EQ(nox_test_json_str(upload, "query", "dest"), "/workspace");
    ASSERT_GT(nox_test_json_int(upload, "body_len"), 0);
  }
  yajl_tree_free(log);
  nox_sync_free(s);
}

/* Failures give the code, and the request's detail stays on the handle. */
static void test_errors_and_detail(void) {
  const char *const no_argv[] = {NULL};
  const char *const argv[] = {"true", NULL};
  nox_client_options_t bad = NOX_CLIENT_OPTIONS_INIT;
  nox_sandbox_info_t *info = &stale_info;
  nox_exec_result_t *res = &stale_result;
  const nox_error_t *e;
  void *buf = stale_bytes;
  size_t len = 99;
  nox_sync_t *s;

  /* Every call on an always-404 prefix fails with the server's text. */
  s = sync_on("s404x*", 0);
  ASSERT_EQ(nox_sync_touch(s, "gone"), NOX_ENOTFOUND);
  e = nox_sync_last_error(s);
  ASSERT_EQ(e->code, NOX_ENOTFOUND);
  ASSERT_EQ(e->http_status, 404);
  ASSERT_STR_EQ(e->message, "injected 404");
  ASSERT_EQ(nox_sync_create(&info, s, "gone", NULL), NOX_ENOTFOUND);
  ASSERT(info == NULL);
  ASSERT_EQ(nox_sync_exec(&res, s, "gone", argv, NULL), NOX_ENOTFOUND);
  ASSERT(res == NULL);
  ASSERT_EQ(nox_sync_download(&buf, &len, s, "gone", NULL), NOX_ENOTFOUND);
  ASSERT(buf == NULL);
  ASSERT_EQ(len, 0);
  ASSERT_EQ(nox_sync_delete(s, "gone"), NOX_ENOTFOUND);
  ASSERT_EQ(nox_sync_health(s), NOX_ENOTFOUND);
  ASSERT_STR_EQ(nox_sync_last_error(s)->message, "injected 404");

  /* Immediate errors: the code, and a message naming the argument. */
  ASSERT_EQ(nox_sync_exec(&res, s, "gone", no_argv, NULL), NOX_EINVAL);
  ASSERT(res == NULL);
  ASSERT_EQ(nox_sync_last_error(s)->code, NOX_EINVAL);
  ASSERT_EQ(nox_sync_last_error(s)->http_status, 0);
  ASSERT_STR_EQ(nox_sync_last_error(s)->message,
                "nox_sync_exec: argv is NULL or empty (it needs at least the "
                "program)");
  ASSERT_EQ(nox_sync_exec_shell(&res, s, "gone", "zsh", "true", NULL),
            NOX_EBADSHELL);
  ASSERT_EQ(nox_sync_last_error(s)->code, NOX_EBADSHELL);
  ASSERT(strstr(nox_sync_last_error(s)->message, "\"zsh\"") != NULL);
  ASSERT_EQ(nox_sync_touch(s, ""), NOX_EINVAL);
  ASSERT_STR_EQ(nox_sync_last_error(s)->message,
                "nox_sync_touch: session_id is empty");
  ASSERT_EQ(nox_sync_download(NULL, &len, s, "gone", NULL), NOX_EINVAL);
  ASSERT_STR_EQ(nox_sync_last_error(s)->message,
                "nox_sync_download: buf is NULL");
  ASSERT_EQ(nox_sync_download_to(s, "gone", NULL, NULL, NULL), NOX_EINVAL);
  ASSERT(strncmp(nox_sync_last_error(s)->message,
                 "nox_sync_download_to: no sink", 29) == 0);
  nox_sync_free(s);

  /* One injected 503, then the same call succeeds and clears the error. */
  s = sync_on("s503x1,tagclear", 0);
  ASSERT_EQ(nox_sync_touch(s, "once"), NOX_EUNAVAIL);
  ASSERT_EQ(nox_sync_last_error(s)->http_status, 503);
  ASSERT_STR_EQ(nox_sync_last_error(s)->message, "injected 503");
  ASSERT_EQ(nox_sync_touch(s, "once"), 0);
  assert_no_error(s);
  nox_sync_free(s);

  /* Nothing listens on the port. */
  {
    nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", nox_test_unused_port());
    opts.base_url = url;
    opts.max_retries = NOX_RETRIES_NONE;
    ASSERT_EQ(nox_sync_new(&s, &opts), 0);
    ASSERT_EQ(nox_sync_health(s), NOX_ECONNECT);
    ASSERT_EQ(nox_sync_last_error(s)->code, NOX_ECONNECT);
    ASSERT_NE(nox_sync_last_error(s)->curl_code, 0);
    nox_sync_free(s);
  }

  /* Bad options fail at once and leave *out NULL. */
  s = (nox_sync_t *)stale_bytes;
  bad.version = 99;
  ASSERT_EQ(nox_sync_new(&s, &bad), NOX_EINVAL);
  ASSERT(s == NULL);
  bad.version = NOX_CLIENT_OPTIONS_VERSION;
  bad.base_url = "gopher://example.invalid";
  ASSERT_EQ(nox_sync_new(&s, &bad), NOX_EUNSUPPORTED);
  ASSERT(s == NULL);
  ASSERT_EQ(nox_sync_health(NULL), NOX_EINVAL);
  ASSERT(nox_sync_last_error(NULL) == NULL);
  nox_sync_free(NULL);
}

/* The in-memory download stops at max_body_bytes; the streaming one does not.
 */
static void test_download_cap(void) {
  sink_t sink = {0, 0, 0};
  void *buf = NULL;
  size_t len = 0;
  nox_sync_t *s;

  s = sync_on("dl4096", 1000);
  ASSERT_EQ(nox_sync_download(&buf, &len, s, "big", NULL), NOX_ETOOBIG);
  ASSERT(buf == NULL);
  ASSERT_EQ(len, 0);
  ASSERT_EQ(nox_sync_last_error(s)->code, NOX_ETOOBIG);
  ASSERT(strstr(nox_sync_last_error(s)->message, "1000") != NULL);
  ASSERT_EQ(nox_sync_download_to(s, "big", NULL, counting_sink, &sink), 0);
  ASSERT_EQ(sink.total, 4096);
  ASSERT_EQ(sink.bad_bytes, 0);
  /* The handle is still good after the aborted transfer. */
  ASSERT_EQ(nox_sync_health(s), 0);
  nox_sync_free(s);

  s = sync_on("dl4096", 4095);
  ASSERT_EQ(nox_sync_download(&buf, &len, s, "big", NULL), NOX_ETOOBIG);
  nox_sync_free(s);

  s = sync_on("dl4096", 4096);
  ASSERT_EQ(nox_sync_download(&buf, &len, s, "big", NULL), 0);
  ASSERT_EQ(len, 4096);
  check_pattern(buf, 0, len);
  nox_free(buf);
  nox_sync_free(s);

  /* An empty body still gives a buffer to free. */
  s = sync_on("dl0", 0);
  ASSERT_EQ(nox_sync_download(&buf, &len, s, "empty", NULL), 0);
  ASSERT(buf != NULL);
  ASSERT_EQ(len, 0);
  nox_free(buf);
  nox_sync_free(s);
}

typedef struct {
  nox_sync_t *s;
  int calls;
  int abort_after; /* return non-zero on this call; 0 never */
  int free_on;     /* nox_sync_free() on this call; 0 never */
} reenter_t;

static int reentering_sink(void *data, const char *buf, size_t len) {
  const char *const argv[] = {"true", NULL};
  reenter_t *r = data;
  nox_exec_result_t *res = &stale_result;
  void *dl = NULL;
  size_t dl_len = 0;

  r->calls++;
  if (r->calls == 1) {
    ASSERT_EQ(nox_sync_health(r->s), NOX_ERECURSE);
    ASSERT_EQ(nox_sync_exec(&res, r->s, "x", argv, NULL), NOX_ERECURSE);
    ASSERT(res == NULL);
    ASSERT_EQ(nox_sync_download(&dl, &dl_len, r->s, "x", NULL), NOX_ERECURSE);
    ASSERT_EQ(nox_sync_download_to(r->s, "x", NULL, reentering_sink, r),
              NOX_ERECURSE);
    ASSERT_EQ(nox_sync_delete(r->s, "x"), NOX_ERECURSE);
    ASSERT_EQ(nox_sync_wait_ready(r->s, "x", NULL), NOX_ERECURSE);
  }
  if (r->free_on == r->calls)
    nox_sync_free(r->s);
  return r->abort_after == r->calls;
}

/* Calls from inside the sink are refused; the outer call is unharmed. */
static void test_reentry(void) {
  reenter_t r = {NULL, 0, 0, 0};

  /* Small chunks, so the sink runs several times. */
  r.s = sync_on("chunk512,tagre", 0);
  ASSERT_EQ(nox_sync_download_to(r.s, "x", NULL, reentering_sink, &r), 0);
  ASSERT_GE(r.calls, 2);
  assert_no_error(r.s);

  /* A sink that says stop ends the call with NOX_EUSER. */
  r.calls = 0;
  r.abort_after = 1;
  ASSERT_EQ(nox_sync_download_to(r.s, "x", NULL, reentering_sink, &r),
            NOX_EUSER);
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(nox_sync_last_error(r.s)->code, NOX_EUSER);
  nox_sync_free(r.s);

  /* Freeing from inside the sink is deferred to the end of the call. */
  r.s = sync_on("chunk512,tagfree", 0);
  r.calls = 0;
  r.abort_after = 0;
  r.free_on = 1;
  ASSERT_EQ(nox_sync_download_to(r.s, "x", NULL, reentering_sink, &r),
            NOX_EUSER);
  ASSERT_EQ(r.calls, 1);
}

/* The last progress report of a download (the final one, at the end). */
typedef struct {
  int calls;
  nox_progress_t last;
} progress_t;

static progress_t progress_seen;

static void record_progress(nox_req_t *req, const nox_progress_t *p) {
  (void)req;
  progress_seen.calls++;
  progress_seen.last = *p;
}

/* path holds exactly want (len bytes). */
static void check_file(const char *dir, const char *rel, const char *want,
                       size_t len) {
  char path[1024], buf[256];
  FILE *f;
  size_t n;

  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  f = fopen(path, "rb");
  if (f == NULL)
    fprintf(stderr, "missing after extraction: %s\n", path);
  ASSERT(f != NULL);
  n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  ASSERT_EQ(n, len);
  ASSERT(memcmp(buf, want, len) == 0);
}

/* One extracting download into dir with on_data NULL, through fn. */
static void extract_into(nox_sync_t *s, const char *dir, int deprecated) {
  nox_download_options_t dl = NOX_DOWNLOAD_OPTIONS_INIT;
  int rc;

  dl.extract_dir = dir;
  dl.progress = record_progress;
  memset(&progress_seen, 0, sizeof(progress_seen));
  if (deprecated) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    rc = nox_sync_download_cb(s, "ex", &dl, NULL, NULL);
#pragma GCC diagnostic pop
  } else {
    rc = nox_sync_download_to(s, "ex", &dl, NULL, NULL);
  }
  if (rc != 0)
    fprintf(stderr, "download: %s: %s\n", nox_err_name(rc),
            nox_sync_last_error(s)->message);
  ASSERT_EQ(rc, 0);
  assert_no_error(s);
  check_file(dir, "a.txt", "alpha\n", 6);
  check_file(dir, "sub/b.txt", "bravo bravo\n", 12);
  /* The final report counts the archive's bytes and its entries. */
  ASSERT_GE(progress_seen.calls, 1);
  ASSERT_GT(progress_seen.last.bytes, 0);
  ASSERT_GE(progress_seen.last.entries, 2);
}

/* extract_dir with a NULL data callback, on the local backend. */
static void test_local_extract(void) {
  static const nox_file_t files[] = {
      {"a.txt", "alpha\n", 6, 0644},
      {"sub/b.txt", "bravo bravo\n", 12, 0600},
  };
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  char url[600], out[1024], old[1024];
  char *root = lt_mkroot();
  char *work = lt_mkroot();
  sink_t sink = {0, 0, 0};
  nox_sync_t *s = NULL;

  snprintf(url, sizeof(url), "local://%s", root);
  opts.base_url = url;
  opts.isolation = NOX_ISOLATION_NONE;
  ASSERT_EQ(nox_sync_new(&s, &opts), 0);
  ASSERT_EQ(nox_sync_create(NULL, s, "ex", NULL), 0);
  up.files = files;
  up.nfiles = sizeof(files) / sizeof(files[0]);
  up.progress = record_progress;
  memset(&progress_seen, 0, sizeof(progress_seen));
  ASSERT_EQ(nox_sync_upload(s, "ex", &up), 0);
  /* The final report: the files' content, 6 + 12 bytes, and two entries. */
  ASSERT_GE(progress_seen.calls, 1);
  ASSERT_EQ(progress_seen.last.data_bytes, 18);
  ASSERT_EQ(progress_seen.last.entries, 2);
  ASSERT_GT(progress_seen.last.bytes, 18);

  /* The same from a directory (a symlink carries no content). */
  {
    char tree[1024], path[1100];
    FILE *f;

    snprintf(tree, sizeof(tree), "%s/tree", work);
    ASSERT_EQ(mkdir(tree, 0755), 0);
    snprintf(path, sizeof(path), "%s/c.txt", tree);
    ASSERT((f = fopen(path, "wb")) != NULL);
    ASSERT_EQ(fwrite("charlie!\n", 1, 9, f), 9);
    fclose(f);
    snprintf(path, sizeof(path), "%s/link", tree);
    ASSERT_EQ(symlink("c.txt", path), 0);
    up = (nox_upload_options_t)NOX_UPLOAD_OPTIONS_INIT;
    up.dir = tree;
    up.dest = "/workspace/t";
    up.progress = record_progress;
    memset(&progress_seen, 0, sizeof(progress_seen));
    ASSERT_EQ(nox_sync_upload(s, "ex", &up), 0);
    ASSERT_EQ(progress_seen.last.data_bytes, 9);
    ASSERT_EQ(progress_seen.last.entries, 2);
  }

  /* A directory that does not exist yet, then the old name's. */
  snprintf(out, sizeof(out), "%s/out", work);
  extract_into(s, out, 0);
  snprintf(old, sizeof(old), "%s/old", work);
  extract_into(s, old, 1);

  /* The old name still streams raw bytes to a data callback too. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  ASSERT_EQ(nox_sync_download_cb(s, "ex", NULL, counting_sink, &sink), 0);
#pragma GCC diagnostic pop
  ASSERT_GT(sink.total, 0);
  ASSERT_GE(sink.chunks, 1);

  ASSERT_EQ(nox_sync_delete(s, "ex"), 0);
  nox_sync_free(s);
  lt_rmroot(work);
  lt_rmroot(root);
}

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(nox_test_faultd_start(&faultd), 0);

  test_every_call_succeeds();
  test_errors_and_detail();
  test_download_cap();
  test_reentry();
  test_local_extract();

  nox_test_server_stop(&faultd);
  nox_library_cleanup();
  return 0;
}
