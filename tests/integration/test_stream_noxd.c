/*
 * Streaming through noxd: the client's HTTP backend uploads a directory
 * (chunked) into a noxd started with a small --max-body, and downloads it
 * back extracted, as raw bytes through a pausing sink, and as entries; the
 * archives are far larger than --max-body, so they can only have streamed.
 * A download canceled mid-way leaves noxd serving.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "noxd_util.h"
#include "stream_util.h"

static noxd_test_t noxd;

static void on_simple(nox_req_t *req, int status) {
  int *st = nox_req_data(req);
  *st = status;
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  (void)info;
  on_simple(req, status);
}

static void run_until(ht_t *t, int *st) {
  while (*st == 1)
    uv_run(&t->loop, UV_RUN_ONCE);
}

typedef struct {
  st_xfer_t x;
  uv_timer_t timer;
  unsigned calls;
  size_t got;
  size_t entries;
  size_t cancel_at; /* the sink cancels once it has this many bytes */
} sink_t;

static void on_resume(uv_timer_t *tm) {
  sink_t *s = tm->data;
  ASSERT_EQ(nox_req_resume(s->x.req), 0);
}

static int slow_sink(nox_req_t *req, const char *buf, size_t len) {
  sink_t *s = nox_req_data(req);
  (void)buf;
  if (++s->calls % 5 == 0) {
    uv_timer_start(&s->timer, on_resume, 1, 0);
    return NOX_PAUSE;
  }
  s->got += len;
  if (s->cancel_at > 0 && s->got >= s->cancel_at && !s->x.canceled) {
    /* From the sink, not from progress: mid-way on a machine of any speed. */
    s->x.canceled = true;
    ASSERT_EQ(nox_req_cancel(req), 0);
  }
  return 0;
}

static int count_entry(nox_req_t *req, const nox_entry_t *e, const char *data,
                       size_t len) {
  sink_t *s = nox_req_data(req);
  (void)e;
  (void)len;
  if (data == NULL)
    s->entries++;
  return 0;
}

static void test_roundtrip(void) {
  ht_t t;
  memset(&t, 0, sizeof(t));
  ASSERT_EQ(uv_loop_init(&t.loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = noxd.srv.url;
  o.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&t.client, &t.loop, &o), 0);
  t.clients = 1;
  nox_client_t *c = t.client;

  int st = 1;
  ASSERT_EQ(nox_create(NULL, c, "n", NULL, on_created, &st), 0);
  run_until(&t, &st);
  ASSERT_EQ(st, 0);

  char *root = st_mkdtemp("nx");
  char src[4096], out[4200];
  snprintf(src, sizeof(src), "%s/src", root);
  ASSERT_EQ(mkdir(src, 0755), 0);
  size_t n = 3u << 20;
  char *buf = malloc(n);
  ASSERT(buf != NULL);
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)(i % 4096 < 2048 ? rand() : 'x');
  st_write(src, "mixed.bin", buf, n, 0644);
  st_write(src, "d/e/f.txt", "nested", 6, 0600);
  st_write(src, "run.sh", "#!/bin/sh\n", 10, 0755);
  snprintf(out, sizeof(out), "%s/empty", src);
  ASSERT_EQ(mkdir(out, 0700), 0);
  snprintf(out, sizeof(out), "%s/ln", src);
  ASSERT_EQ(symlink("d/e/f.txt", out), 0);
  free(buf);
  char *want = st_snapshot(src, NULL, true);

  st_xfer_t up;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dir = src;
  uo.dest = "/workspace/tree";
  ASSERT_EQ(nox_upload(&up.req, c, "n", &uo, st_on_done, &up), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_GT(up.rep.bytes, 65536 * 4); /* well past --max-body */

  st_xfer_t down;
  snprintf(out, sizeof(out), "%s/out", root);
  st_download_dir(&t, &down, c, "n", "/workspace/tree", out);
  ST_EXPECT(&down, 0);
  char *got = st_snapshot(out, NULL, true);
  ASSERT_STR_EQ(got, want);
  free(got);

  sink_t s;
  memset(&s, 0, sizeof(s));
  st_xfer_init(&s.x, &t);
  ASSERT_EQ(uv_timer_init(&t.loop, &s.timer), 0);
  s.timer.data = &s;
  nox_download_options_t ropt = NOX_DOWNLOAD_OPTIONS_INIT;
  ropt.src = "/workspace/tree";
  ASSERT_EQ(nox_download(&s.x.req, c, "n", &ropt, slow_sink, st_on_done, &s),
            0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&s.x, 0);
  ASSERT_GT(s.got, 65536 * 4);
  ASSERT_EQ(s.got, s.x.rep.bytes);
  size_t want_bytes = s.got;

  st_xfer_init(&s.x, &t);
  nox_download_options_t eopt = NOX_DOWNLOAD_OPTIONS_INIT;
  eopt.src = "/workspace/tree";
  eopt.on_entry = count_entry;
  ASSERT_EQ(nox_download(&s.x.req, c, "n", &eopt, NULL, st_on_done, &s), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&s.x, 0);
  ASSERT_EQ(s.entries, st_count(src));

  /* Canceled mid-way: noxd drops its side and keeps serving. */
  st_xfer_init(&s.x, &t);
  s.got = 0;
  s.cancel_at = 64 * 1024;
  ropt.progress = st_on_progress;
  ASSERT_EQ(nox_download(&s.x.req, c, "n", &ropt, slow_sink, st_on_done, &s),
            0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&s.x, NOX_ECANCELED);
  ASSERT(s.x.canceled);
  ASSERT_LT(s.got, want_bytes);
  ASSERT_EQ(s.got, s.x.rep.bytes); /* no byte was delivered after the cancel */
  st = 1;
  ASSERT_EQ(nox_health(NULL, c, on_simple, &st), 0);
  run_until(&t, &st);
  ASSERT_EQ(st, 0);
  ASSERT(noxd_test_alive(&noxd));

  uv_close((uv_handle_t *)&s.timer, NULL);
  free(want);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

int main(void) {
  static const char *const extra[] = {"--max-body", "65536", NULL};
  setvbuf(stdout, NULL, _IONBF, 0);
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(noxd_test_start(&noxd, "none", extra), 0);
  printf("[ RUN  ] roundtrip\n");
  test_roundtrip();
  ASSERT(noxd_test_alive(&noxd));
  ASSERT_EQ(noxd_test_stop(&noxd), 0);
  nox_library_cleanup();
  return 0;
}
