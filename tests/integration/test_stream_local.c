/*
 * Streaming transfers through the local backend: the same sources and sinks
 * as over HTTP, run on the client's tar workers. A directory goes up and
 * comes back (extracted, as entries, as raw bytes with pauses), a caller's
 * read callback uploads an archive, a refused upload names its member, and
 * a canceled download leaves no partial tree.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream_util.h"

typedef struct {
  ht_t t;
  char *root; /* scratch: the backend's root, sources, outputs */
  char *sandboxes;
  nox_client_t *c;
} fx_t;

static void fx_begin(fx_t *f, const char *tag) {
  memset(f, 0, sizeof(*f));
  ASSERT_EQ(uv_loop_init(&f->t.loop), 0);
  f->root = st_mkdtemp(tag);
  char url[4200];
  f->sandboxes = malloc(4200);
  snprintf(f->sandboxes, 4200, "%s/sandboxes", f->root);
  ASSERT_EQ(mkdir(f->sandboxes, 0700), 0);
  snprintf(url, sizeof(url), "local://%s", f->sandboxes);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  o.isolation = NOX_ISOLATION_NONE;
  o.tar_workers = 1;
  ASSERT_EQ(nox_client_new(&f->c, &f->t.loop, &o), 0);
  f->t.client = f->c;
  f->t.clients = 1;
}

static void fx_end(fx_t *f) {
  ht_end(&f->t);
  st_rmtree(f->root);
  free(f->root);
  free(f->sandboxes);
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  int *st = nox_req_data(req);
  (void)info;
  *st = status;
}

static void make_sandbox(fx_t *f, const char *id) {
  int st = 1;
  ASSERT_EQ(nox_create(NULL, f->c, id, NULL, on_created, &st), 0);
  while (st == 1)
    uv_run(&f->t.loop, UV_RUN_ONCE);
  ASSERT_EQ(st, 0);
}

typedef struct {
  st_xfer_t x;
  uv_timer_t timer;
  unsigned calls;
  char *got;
  size_t got_len;
  const char *src;
  size_t len, off;
} pacer_t;

static void on_resume(uv_timer_t *tm) {
  pacer_t *p = tm->data;
  ASSERT_EQ(nox_req_resume(p->x.req), 0);
}

static int raw_sink(nox_req_t *req, const char *buf, size_t len) {
  pacer_t *p = nox_req_data(req);
  if (++p->calls % 3 == 0) {
    uv_timer_start(&p->timer, on_resume, 1, 0);
    return NOX_PAUSE;
  }
  p->got = realloc(p->got, p->got_len + len);
  ASSERT(p->got != NULL);
  memcpy(p->got + p->got_len, buf, len);
  p->got_len += len;
  return 0;
}

static int read_src(nox_req_t *req, char *buf, size_t cap, size_t *nread) {
  pacer_t *p = nox_req_data(req);
  if (++p->calls % 3 == 0) {
    uv_timer_start(&p->timer, on_resume, 1, 0);
    return NOX_PAUSE;
  }
  size_t n = p->len - p->off < cap ? p->len - p->off : cap;
  if (n > 777)
    n = 777;
  memcpy(buf, p->src + p->off, n);
  p->off += n;
  *nread = n;
  return 0;
}

static int count_entries(nox_req_t *req, const nox_entry_t *e, const char *data,
                         size_t len) {
  size_t *n = (size_t *)((st_xfer_t *)nox_req_data(req) + 1);
  (void)e;
  (void)len;
  if (data == NULL)
    (*n)++;
  return 0;
}

static void test_roundtrip(void) {
  fx_t f;
  fx_begin(&f, "lrt");
  make_sandbox(&f, "a");
  char src[4096], out[4400];
  snprintf(src, sizeof(src), "%s/src", f.root);
  ASSERT_EQ(mkdir(src, 0755), 0);
  char *big = malloc(1 << 20);
  ASSERT(big != NULL);
  for (size_t i = 0; i < (1 << 20); i++)
    big[i] = (char)(i % 13 == 0 ? (size_t)rand() : 'a' + i % 26);
  st_write(src, "big.bin", big, 1 << 20, 0600);
  st_write(src, "x/y/z.sh", "#!/bin/sh\n", 10, 0755);
  st_write(src, "\xe9t\xe9.txt", "latin1 name", 11, 0644);
  snprintf(out, sizeof(out), "%s/x/empty", src);
  ASSERT_EQ(mkdir(out, 0755), 0);
  snprintf(out, sizeof(out), "%s/link", src);
  ASSERT_EQ(symlink("x/y/z.sh", out), 0);
  char *want = st_snapshot(src, NULL, true);

  st_xfer_t up;
  st_xfer_init(&up, &f.t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dir = src;
  uo.dest = "/workspace/in";
  uo.progress = st_on_progress;
  ASSERT_EQ(nox_upload(&up.req, f.c, "a", &uo, st_on_done, &up), 0);
  f.t.pending++;
  ht_wait(&f.t);
  ST_EXPECT(&up, 0);
  ASSERT_EQ(up.rep.entries, st_count(src));

  /* Back out, extracted. */
  st_xfer_t down;
  snprintf(out, sizeof(out), "%s/out", f.root);
  st_download_dir(&f.t, &down, f.c, "a", "/workspace/in", out);
  ST_EXPECT(&down, 0);
  char *got = st_snapshot(out, NULL, true);
  ASSERT_STR_EQ(got, want);
  free(got);

  /* As entries. */
  struct {
    st_xfer_t x;
    size_t n;
  } en;
  memset(&en, 0, sizeof(en));
  st_xfer_init(&en.x, &f.t);
  nox_download_options_t eo = NOX_DOWNLOAD_OPTIONS_INIT;
  eo.src = "/workspace/in";
  eo.on_entry = count_entries;
  ASSERT_EQ(nox_download(&en.x.req, f.c, "a", &eo, NULL, st_on_done, &en), 0);
  f.t.pending++;
  ht_wait(&f.t);
  ST_EXPECT(&en.x, 0);
  ASSERT_EQ(en.n, st_count(src));

  /* As raw bytes with pauses; then up again from a read callback. */
  pacer_t p;
  memset(&p, 0, sizeof(p));
  st_xfer_init(&p.x, &f.t);
  ASSERT_EQ(uv_timer_init(&f.t.loop, &p.timer), 0);
  p.timer.data = &p;
  nox_download_options_t ro = NOX_DOWNLOAD_OPTIONS_INIT;
  ro.src = "/workspace/in";
  ASSERT_EQ(nox_download(&p.x.req, f.c, "a", &ro, raw_sink, st_on_done, &p), 0);
  f.t.pending++;
  ht_wait(&f.t);
  ST_EXPECT(&p.x, 0);
  ASSERT_GT(p.got_len, 0);
  ASSERT_EQ(p.x.rep.bytes, p.got_len);

  st_xfer_init(&p.x, &f.t);
  p.src = p.got;
  p.len = p.got_len;
  p.calls = 0;
  nox_upload_options_t ru = NOX_UPLOAD_OPTIONS_INIT;
  ru.read = read_src;
  ru.dest = "/workspace/again";
  ASSERT_EQ(nox_upload(&p.x.req, f.c, "a", &ru, st_on_done, &p), 0);
  f.t.pending++;
  ht_wait(&f.t);
  ST_EXPECT(&p.x, 0);
  ASSERT_EQ(p.x.rep.bytes, p.got_len);
  ASSERT_EQ(p.x.rep.entries, st_count(src));
  uv_close((uv_handle_t *)&p.timer, NULL);
  free(p.got);
  free(big);
  free(want);
  fx_end(&f);
}

static void test_refused_and_cancel(void) {
  fx_t f;
  fx_begin(&f, "lrc");
  make_sandbox(&f, "b");
  char *before = st_snapshot(f.root, "sandboxes", false);
  /* A traversal is refused by name, in the upload's own error. */
  char arc[4200], cmd[8600];
  snprintf(arc, sizeof(arc), "%s/bad.tar", f.root);
  snprintf(cmd, sizeof(cmd),
           "python3 -c 'import tarfile,io,sys\n"
           "with tarfile.open(sys.argv[1], \"w\") as t:\n"
           " for n in (\"ok.txt\", \"../escape.txt\"):\n"
           "  i = tarfile.TarInfo(n); i.size = 2\n"
           "  t.addfile(i, io.BytesIO(b\"hi\"))' '%s'",
           arc);
  ASSERT_EQ(system(cmd), 0);
  size_t alen;
  char *a = st_read(arc, &alen);
  ASSERT(a != NULL);
  ASSERT_EQ(unlink(arc), 0);
  st_xfer_t up;
  st_xfer_init(&up, &f.t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.archive = a;
  uo.archive_len = alen;
  uo.dest = "/workspace";
  ASSERT_EQ(nox_upload(&up.req, f.c, "b", &uo, st_on_done, &up), 0);
  free(a);
  f.t.pending++;
  ht_wait(&f.t);
  ST_EXPECT(&up, NOX_EARCHIVE);
  ASSERT(strstr(up.err.message, "../escape.txt") != NULL);
  char esc[4200];
  snprintf(esc, sizeof(esc), "%s/escape.txt", f.sandboxes);
  ASSERT(!st_exists(esc));
  uo.archive = NULL;
  uo.archive_len = 0;

  /*
   * 20,000 small files, downloaded extracted, canceled early: packing and
   * unpacking that many entries takes far longer than the 30 ms below
   * (compression is no help here: the local backend copies a plain tar).
   */
  enum { NSMALL = 20000 };
  nox_file_t *many = calloc(NSMALL, sizeof(*many));
  char(*names)[32] = calloc(NSMALL, sizeof(*names));
  ASSERT(many != NULL && names != NULL);
  for (size_t i = 0; i < NSMALL; i++) {
    snprintf(names[i], sizeof(names[i]), "d%02zu/f%05zu", i % 50, i);
    many[i].path = names[i];
    many[i].data = names[i];
    many[i].len = strlen(names[i]);
  }
  st_xfer_init(&up, &f.t);
  uo.files = many;
  uo.nfiles = NSMALL;
  ASSERT_EQ(nox_upload(&up.req, f.c, "b", &uo, st_on_done, &up), 0);
  free(many);
  free(names);
  f.t.pending++;
  ht_wait(&f.t);
  ST_EXPECT(&up, 0);

  char out[4200];
  snprintf(out, sizeof(out), "%s/out", f.root);
  st_xfer_t down;
  st_xfer_init(&down, &f.t);
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.extract_dir = out;
  ASSERT_EQ(nox_download(&down.req, f.c, "b", &o, NULL, st_on_done, &down), 0);
  f.t.pending++;
  /* Let it get going (packing or unpacking), then cancel. */
  ht_run_for(&f.t, 30);
  ASSERT_EQ(down.calls, 0);
  ASSERT_EQ(nox_req_cancel(down.req), 0);
  ht_wait(&f.t);
  ST_EXPECT(&down, NOX_ECANCELED);
  ht_close(&f.t, f.c);
  f.t.client = NULL;
  /* Closed: workers joined; no output, no temporary tree beside it. */
  char *after = st_snapshot(f.root, "sandboxes", false);
  ASSERT_STR_EQ(after, before);
  free(after);
  free(before);
  fx_end(&f);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  ASSERT_EQ(nox_library_init(), 0);
  printf("[ RUN  ] roundtrip\n");
  test_roundtrip();
  printf("[ RUN  ] refused_and_cancel\n");
  test_refused_and_cancel();
  nox_library_cleanup();
  return 0;
}
