/*
 * Streaming uploads and downloads over HTTP against faultd's "files" fault
 * (uploads land in a local file, downloads serve one): directory round
 * trips, every source and sink, pause/resume, cancel mid-transfer, and the
 * hostile archive corpus (stream_corpus.py) with nothing written outside
 * the destination.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream_util.h"

static nox_client_t *client(ht_t *t, const char *spec, uint32_t workers) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.tar_workers = workers;
  o.max_retries = NOX_RETRIES_NONE;
  return ht_client(t, spec, &o);
}

static void upload(st_xfer_t *x, nox_client_t *c, nox_upload_options_t *o) {
  o->progress = st_on_progress;
  ASSERT_EQ(nox_upload(&x->req, c, "s", o, st_on_done, x), 0);
  x->t->pending++;
}

static void download_to(st_xfer_t *x, nox_client_t *c, const char *src,
                        const char *dir, const nox_extract_limits_t *lim) {
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = src;
  o.extract_dir = dir;
  o.progress = st_on_progress;
  if (lim != NULL)
    o.limits = *lim;
  ASSERT_EQ(nox_download(&x->req, c, "s", &o, NULL, st_on_done, x), 0);
  x->t->pending++;
}

/* A tree with what a workspace holds, binary and odd names included. */
static void make_tree(const char *root) {
  size_t big = 3u << 20;
  char *buf = malloc(big);
  ASSERT(buf != NULL);
  for (size_t i = 0; i < big; i++)
    buf[i] = (char)("compressible text "[i % 18]);
  st_write(root, "src/big.txt", buf, big, 0644);
  srand(7);
  for (size_t i = 0; i < 300000; i++)
    buf[i] = (char)rand();
  st_write(root, "bin/random.bin", buf, 300000, 0600);
  st_write(root, "bin/run.sh", "#!/bin/sh\necho hi\n", 18, 0755);
  st_write(root, "a/b/c/d/deep.txt", "deep", 4, 0640);
  st_write(root, "name-\xff\xfe-latin1.txt", "odd", 3, 0644);
  st_write(root, "empty.txt", "", 0, 0444);
  char path[4096];
  snprintf(path, sizeof(path), "%s/emptydir", root);
  ASSERT_EQ(mkdir(path, 0755), 0);
  snprintf(path, sizeof(path), "%s/emptydir/inner", root);
  ASSERT_EQ(mkdir(path, 0755), 0);
  snprintf(path, sizeof(path), "%s/emptydir", root);
  ASSERT_EQ(chmod(path, 0750), 0);
  snprintf(path, sizeof(path), "%s/link-to-deep", root);
  ASSERT_EQ(symlink("a/b/c/d/deep.txt", path), 0);
  snprintf(path, sizeof(path), "%s/a/dangling", root);
  ASSERT_EQ(symlink("../nowhere", path), 0);
  free(buf);
}

static void test_roundtrip_dir(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("rt");
  char src[4096], arc[4096], out[4096];
  snprintf(src, sizeof(src), "%s/src", root);
  ASSERT_EQ(mkdir(src, 0755), 0);
  make_tree(src);
  snprintf(arc, sizeof(arc), "%s/up.tar.gz", root);
  /* One worker for everything: transfers queue for it, never deadlock. */
  nox_client_t *c = client(&t, "files", 1);

  st_xfer_t up;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dir = src;
  uo.dest = arc;
  upload(&up, c, &uo);
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_EQ(up.rep.entries, st_count(src));
  ASSERT_GT(up.rep.bytes, 0);
  ASSERT_GE(up.progress_calls, 1);
  ASSERT_EQ(up.last.bytes, up.rep.bytes);
  /* The file content packed: every regular file's size, no header, no gzip. */
  ASSERT_EQ(up.last.data_bytes, (3u << 20) + 300000 + 18 + 4 + 3 + 0);
  yajl_val log = ht_log();
  yajl_val e = ht_log_one(log, "POST", "/v1/sandboxes/s/files/upload");
  ASSERT_STR_EQ(nox_test_json_str(e, "headers", "transfer-encoding"),
                "chunked");
  ASSERT_EQ(nox_test_json_int(e, "body_len"), (long long)up.rep.bytes);
  yajl_tree_free(log);

  /* Three extractions at once on the one worker. */
  st_xfer_t down[3];
  char *want = st_snapshot(src, NULL, true);
  for (int i = 0; i < 3; i++) {
    st_xfer_init(&down[i], &t);
    snprintf(out, sizeof(out), "%s/out%d", root, i);
    download_to(&down[i], c, arc, out, NULL);
  }
  ht_wait(&t);
  for (int i = 0; i < 3; i++) {
    ST_EXPECT(&down[i], 0);
    ASSERT_EQ(down[i].rep.entries, up.rep.entries);
    ASSERT_EQ(down[i].rep.refused, 0);
    ASSERT_EQ(down[i].last.entries, up.rep.entries);
    ASSERT_EQ(down[i].last.total, down[i].rep.bytes);
    snprintf(out, sizeof(out), "%s/out%d", root, i);
    char *got = st_snapshot(out, NULL, true);
    if (strcmp(got, want) != 0)
      fprintf(stderr, "want:\n%s\ngot:\n%s\n", want, got);
    ASSERT_STR_EQ(got, want);
    free(got);
  }
  /* Only the outputs and the archive sit beside the source. */
  char *around = st_snapshot(root, "src", false);
  ASSERT(strstr(around, ".nox") == NULL);
  free(around);
  free(want);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- files source, entry sink
 * ------------------------------------------------ */

typedef struct {
  st_xfer_t x;
  char names[8][64];
  int types[8];
  size_t sizes[8];
  char data[8][64];
  size_t data_len[8];
  int n;
} entries_t;

static int on_entry(nox_req_t *req, const nox_entry_t *e, const char *data,
                    size_t len) {
  entries_t *en = nox_req_data(req);
  if (data == NULL) {
    ASSERT_LT(en->n, 8);
    snprintf(en->names[en->n], 64, "%s", e->path);
    en->types[en->n] = e->type;
    en->sizes[en->n] = (size_t)e->size;
    en->n++;
    return 0;
  }
  int i = en->n - 1;
  ASSERT_STR_EQ(e->path, en->names[i]);
  ASSERT_LE(en->data_len[i] + len, 64);
  memcpy(en->data[i] + en->data_len[i], data, len);
  en->data_len[i] += len;
  return 0;
}

static void test_files_to_entries(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("fe");
  char arc[4096];
  snprintf(arc, sizeof(arc), "%s/files.tar.gz", root);
  nox_client_t *c = client(&t, "files", 2);
  nox_file_t files[3] = {{"a.txt", "alpha", 5, 0600},
                         {"dir/b.bin", "\0\1\2\3", 4, 0},
                         {"dir/empty", NULL, 0, 0755}};
  st_xfer_t up;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.files = files;
  uo.nfiles = 3;
  uo.dest = arc;
  upload(&up, c, &uo);
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_EQ(up.rep.entries, 3);

  entries_t en;
  memset(&en, 0, sizeof(en));
  st_xfer_init(&en.x, &t);
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = arc;
  o.on_entry = on_entry;
  ASSERT_EQ(nox_download(&en.x.req, c, "s", &o, NULL, st_on_done, &en), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&en.x, 0);
  ASSERT_EQ(en.n, 3);
  ASSERT_EQ(en.x.rep.entries, 3);
  for (int i = 0; i < 3; i++) {
    ASSERT_STR_EQ(en.names[i], files[i].path);
    ASSERT_EQ(en.types[i], NOX_ENTRY_FILE);
    ASSERT_EQ(en.sizes[i], files[i].len);
    ASSERT_EQ(en.data_len[i], files[i].len);
    ASSERT(files[i].len == 0 ||
           memcmp(en.data[i], files[i].data, files[i].len) == 0);
  }
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- read source and raw sink, both pausing
 * ---------------------------------- */

typedef struct {
  st_xfer_t x;
  const char *src;
  size_t len, off;
  unsigned pauses;
  uv_timer_t timer;
  char *got;
  size_t got_len;
} pacer_t;

static void on_resume(uv_timer_t *tm) {
  pacer_t *p = tm->data;
  ASSERT_EQ(nox_req_resume(p->x.req), 0);
}

static int read_src(nox_req_t *req, char *buf, size_t cap, size_t *nread) {
  pacer_t *p = nox_req_data(req);
  /* Every third call has nothing yet: pause, resume from a timer. */
  if (++p->pauses % 3 == 0) {
    uv_timer_start(&p->timer, on_resume, 2, 0);
    return NOX_PAUSE;
  }
  size_t n = p->len - p->off < cap ? p->len - p->off : cap;
  if (n > 1000)
    n = 1000;
  memcpy(buf, p->src + p->off, n);
  p->off += n;
  *nread = n;
  return 0;
}

static int raw_sink(nox_req_t *req, const char *buf, size_t len) {
  pacer_t *p = nox_req_data(req);
  if (++p->pauses % 4 == 0) {
    uv_timer_start(&p->timer, on_resume, 2, 0);
    return NOX_PAUSE;
  }
  p->got = realloc(p->got, p->got_len + len);
  ASSERT(p->got != NULL);
  memcpy(p->got + p->got_len, buf, len);
  p->got_len += len;
  return 0;
}

static void test_read_source_and_raw_sink(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("rd");
  char arc[4096];
  snprintf(arc, sizeof(arc), "%s/raw.bin", root);
  nox_client_t *c = client(&t, "files", 2);
  size_t len = 200000;
  char *data = malloc(len);
  ASSERT(data != NULL);
  for (size_t i = 0; i < len; i++)
    data[i] = (char)(i * 7 + i / 1000);

  pacer_t p;
  memset(&p, 0, sizeof(p));
  st_xfer_init(&p.x, &t);
  p.src = data;
  p.len = len;
  ASSERT_EQ(uv_timer_init(&t.loop, &p.timer), 0);
  p.timer.data = &p;
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.read = read_src;
  uo.dest = arc;
  upload(&p.x, c, &uo);
  ht_wait(&t);
  ST_EXPECT(&p.x, 0);
  ASSERT_EQ(p.x.rep.bytes, len);
  ASSERT_GT(p.pauses, 3);
  size_t flen;
  char *saved = st_read(arc, &flen);
  ASSERT(saved != NULL);
  ASSERT_EQ(flen, len);
  ASSERT_MEM_EQ(saved, data, len);
  free(saved);

  /* The same bytes back through on_data, which pauses now and then. */
  st_xfer_init(&p.x, &t);
  p.pauses = 0;
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = arc;
  o.progress = st_on_progress;
  ASSERT_EQ(nox_download(&p.x.req, c, "s", &o, raw_sink, st_on_done, &p), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&p.x, 0);
  ASSERT_EQ(p.got_len, len);
  ASSERT_MEM_EQ(p.got, data, len);
  ASSERT_EQ(p.x.rep.bytes, len);
  ASSERT_EQ(p.x.last.total, len);
  /* Not paused any more: resume refuses. */
  uv_close((uv_handle_t *)&p.timer, NULL);
  free(p.got);
  free(data);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- include / exclude
 * ---------------------------------------------------------- */

static void test_include_exclude(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("ie");
  char src[4096], arc[4096], out[4096];
  snprintf(src, sizeof(src), "%s/src", root);
  snprintf(arc, sizeof(arc), "%s/f.tar.gz", root);
  snprintf(out, sizeof(out), "%s/out", root);
  ASSERT_EQ(mkdir(src, 0755), 0);
  st_write(src, "keep.c", "c", 1, 0644);
  st_write(src, "lib/keep2.c", "c2", 2, 0644);
  st_write(src, "lib/drop.o", "o", 1, 0644);
  st_write(src, "lib/gen.c", "g", 1, 0644);
  st_write(src, "README", "r", 1, 0644);
  nox_client_t *c = client(&t, "files", 2);
  const char *inc[] = {"*.c", NULL};
  const char *exc[] = {"lib/gen.*", NULL};
  st_xfer_t up, down;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dir = src;
  uo.dest = arc;
  uo.include = inc;
  uo.exclude = exc;
  upload(&up, c, &uo);
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_EQ(up.rep.entries, 2);
  st_xfer_init(&down, &t);
  download_to(&down, c, arc, out, NULL);
  ht_wait(&t);
  ST_EXPECT(&down, 0);
  char path[4200];
  snprintf(path, sizeof(path), "%s/keep.c", out);
  ASSERT(st_exists(path));
  snprintf(path, sizeof(path), "%s/lib/keep2.c", out);
  ASSERT(st_exists(path));
  snprintf(path, sizeof(path), "%s/lib/drop.o", out);
  ASSERT(!st_exists(path));
  snprintf(path, sizeof(path), "%s/lib/gen.c", out);
  ASSERT(!st_exists(path));
  snprintf(path, sizeof(path), "%s/README", out);
  ASSERT(!st_exists(path));

  /* A source directory that is not there fails the upload with EIO. */
  snprintf(path, sizeof(path), "%s/missing", root);
  st_xfer_init(&up, &t);
  uo.dir = path;
  uo.include = uo.exclude = NULL;
  upload(&up, c, &uo);
  ht_wait(&t);
  ST_EXPECT(&up, NOX_EIO);
  ASSERT(strstr(up.err.message, "missing") != NULL);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- the hostile corpus
 * ---------------------------------------------------------- */

typedef struct {
  const char *file;
  int status;
  uint64_t refused;          /* (uint64_t)-1: any */
  const char *first_refused; /* prefix, or NULL */
  nox_extract_limits_t limits;
  const char *must_exist; /* inside the destination after success */
} hostile_t;

/*
 * The corpus (100,000 entries, a 32 MiB bomb) is slow to make and unpack
 * under sanitizers on a loaded machine: a longer watchdog than ht_main's.
 */
#define LONG_WATCHDOG_S 280

static void test_hostile_corpus(void) {
  alarm(LONG_WATCHDOG_S);
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("hostile");
  char corpus[4096], outside[4096], host[4200], cmd[16384];
  snprintf(corpus, sizeof(corpus), "%s/corpus", root);
  snprintf(outside, sizeof(outside), "%s/outside", root);
  snprintf(host, sizeof(host), "%s/host.txt", outside);
  ASSERT_EQ(mkdir(outside, 0755), 0);
  st_write(outside, "host.txt", "host file", 9, 0644);
  snprintf(cmd, sizeof(cmd),
           "python3 %s/tests/integration/stream_corpus.py '%s' '%s'",
           NOX_SOURCE_DIR, corpus, host);
  ASSERT_EQ(system(cmd), 0);
  char *before = st_snapshot(root, "corpus", true);

  const hostile_t cases[] = {
      {"trav1.tar", 0, 1, "../x", {0}, "ok.txt"},
      {"trav2.tar", 0, 1, "a/../../x", {0}, NULL},
      {"abs.tar", 0, 1, "/", {0}, NULL},
      {"symlink_out.tar", 0, 1, "lnk", {0}, "lnk/through.txt"},
      {"symlink_abs.tar", 0, 1, "lnk", {0}, "lnk/through2.txt"},
      {"hardlink.tar", 0, 2, "hl", {0}, NULL},
      {"devices.tar", 0, 3, "dev", {0}, "plain.txt"},
      {"short.tar", NOX_EARCHIVE, 0, NULL, {0}, NULL},
      {"bomb.tar.gz", NOX_ETOOBIG, 0, NULL, {0, 4u << 20, 0, 0}, NULL},
      {"bomb.tar.gz", NOX_ETOOBIG, 0, NULL, {0, 0, 1u << 20, 0}, NULL},
      {"bomb.tar.gz", NOX_ETOOBIG, 0, NULL, {0, 0, 0, 50}, NULL},
      {"many.tar.gz", NOX_ETOOBIG, 0, NULL, {1000, 0, 0, 0}, NULL},
      {"longname.tar", 0, 1, "LLLL", {0}, "after.txt"},
      {"ctrl.tar", 0, 0, NULL, {0}, "c\x01t\x1b[31m\nl.txt"},
      {"notatar.bin", NOX_EARCHIVE, 0, NULL, {0}, NULL},
  };
  nox_client_t *c = client(&t, "files", 2);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const hostile_t *h = &cases[i];
    char src[4200], dest[4200];
    snprintf(src, sizeof(src), "%s/%s", corpus, h->file);
    snprintf(dest, sizeof(dest), "%s/dest", root);
    printf("  %s\n", h->file);
    st_xfer_t x;
    st_xfer_init(&x, &t);
    download_to(&x, c, src, dest, &h->limits);
    ht_wait(&t);
    ST_EXPECT(&x, h->status);
    ASSERT_EQ(x.rep.refused, h->refused);
    if (h->first_refused != NULL)
      ASSERT(strncmp(x.rep.first_refused, h->first_refused,
                     strlen(h->first_refused)) == 0);
    if (h->status != 0) {
      ASSERT(x.err.message[0] != '\0');
      ASSERT(!st_exists(dest));
    } else {
      ASSERT(st_exists(dest));
    }
    if (h->must_exist != NULL) {
      char p[4300];
      snprintf(p, sizeof(p), "%s/%s", dest, h->must_exist);
      ASSERT(st_exists(p));
    }
    /* No temporary tree left; nothing else changed around dest. */
    char *around = st_snapshot(root, "dest", false);
    ASSERT(strstr(around, ".dest.nox") == NULL);
    free(around);
    st_rmtree(dest);
    char *now = st_snapshot(root, "corpus", true);
    ASSERT_STR_EQ(now, before);
    free(now);
  }
  free(before);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- cancel mid-transfer
 * -----------------------------------------------------------
 * Every cancel here happens at a point the test controls, never after a
 * delay: a progress report comes at most every 100 ms, by when a fast
 * machine has moved the whole 4 MiB.
 */

/* A raw-archive source that holds back after hold bytes and cancels. */
typedef struct {
  st_xfer_t x;
  const char *data;
  size_t len, off, hold;
  unsigned reads_after_cancel;
} paced_t;

static int paced_read(nox_req_t *req, char *buf, size_t cap, size_t *nread) {
  paced_t *p = nox_req_data(req);
  if (p->x.canceled) {
    p->reads_after_cancel++;
    return NOX_PAUSE;
  }
  if (p->off >= p->hold) {
    /* Everything up to hold is out: cancel while the rest is held back. */
    p->x.canceled = true;
    ASSERT_EQ(nox_req_cancel(req), 0);
    return NOX_PAUSE;
  }
  size_t n = p->hold - p->off;
  if (n > cap)
    n = cap;
  memcpy(buf, p->data + p->off, n);
  p->off += n;
  *nread = n;
  return 0;
}

static void test_cancel_mid_transfer(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("cd");
  char src[4096], arc[4096], dest[4096];
  snprintf(src, sizeof(src), "%s/src", root);
  snprintf(arc, sizeof(arc), "%s/a.tar.gz", root);
  snprintf(dest, sizeof(dest), "%s/dest", root);
  ASSERT_EQ(mkdir(src, 0755), 0);
  char *buf = malloc(1u << 20);
  ASSERT(buf != NULL);
  srand(11);
  for (size_t i = 0; i < (1u << 20); i++)
    buf[i] = (char)rand();
  for (int i = 0; i < 4; i++) {
    char name[32];
    snprintf(name, sizeof(name), "r%d.bin", i);
    st_write(src, name, buf, 1u << 20, 0644);
  }
  free(buf);
  nox_client_t *c = client(&t, "files", 2);
  st_xfer_t up;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dir = src;
  uo.dest = arc;
  upload(&up, c, &uo);
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_GT(up.rep.bytes, 4u << 20); /* random data: gzip cannot shrink it */

  /*
   * Canceled from its first progress report, which comes with the first
   * bytes; nothing is taken after a cancel, so one write's worth arrived.
   */
  nox_client_t *slow = client(&t, "files,chunk16384", 2);
  st_xfer_t down;
  st_xfer_init(&down, &t);
  down.cancel_on_progress = true;
  download_to(&down, slow, arc, dest, NULL);
  ht_wait(&t);
  ST_EXPECT(&down, NOX_ECANCELED);
  ASSERT(down.canceled);
  ASSERT_GT(down.rep.bytes, 0);
  ASSERT_LE(down.rep.bytes, 16384);
  ht_close(&t, slow);
  /* Closed: the worker is joined and its temporary tree is gone. */
  ASSERT(!st_exists(dest));
  char *around = st_snapshot(root, "src", false);
  ASSERT(strstr(around, ".nox") == NULL);
  free(around);

  /* Cancel a directory upload (its packing worker running) from progress. */
  char arc2[4200];
  snprintf(arc2, sizeof(arc2), "%s/b.tar.gz", root);
  st_xfer_t up2;
  st_xfer_init(&up2, &t);
  up2.cancel_on_progress = true;
  nox_upload_options_t uo2 = NOX_UPLOAD_OPTIONS_INIT;
  uo2.dir = src;
  uo2.dest = arc2;
  upload(&up2, c, &uo2);
  ht_wait(&t);
  ST_EXPECT(&up2, NOX_ECANCELED);
  ASSERT(up2.canceled);
  ASSERT_LT(up2.rep.bytes, up.rep.bytes);

  /*
   * A paced raw-archive source: 256 KiB, then held back until the cancel
   * (made from the source itself) went through. Exactly that much was sent.
   */
  size_t alen;
  char *adata = st_read(arc, &alen);
  ASSERT(adata != NULL);
  ASSERT_EQ(alen, up.rep.bytes);
  char arc3[4200];
  snprintf(arc3, sizeof(arc3), "%s/c.tar.gz", root);
  paced_t p;
  memset(&p, 0, sizeof(p));
  st_xfer_init(&p.x, &t);
  p.data = adata;
  p.len = alen;
  p.hold = 256u << 10;
  nox_upload_options_t uo3 = NOX_UPLOAD_OPTIONS_INIT;
  uo3.read = paced_read;
  uo3.dest = arc3;
  uo3.progress = st_on_progress;
  ASSERT_EQ(nox_upload(&p.x.req, c, "s", &uo3, st_on_done, &p), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&p.x, NOX_ECANCELED);
  ASSERT(p.x.canceled);
  ASSERT_EQ(p.x.rep.bytes, p.hold);
  ASSERT_EQ(p.reads_after_cancel, 0);
  ASSERT_LT(p.x.rep.bytes, p.len);
  free(adata);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- 100,000 entries each way
 * -------------------------------------------------- */

#define MANY 100000

typedef struct {
  st_xfer_t x;
  size_t headers, bytes;
  bool in_order;
} many_t;

static int on_many(nox_req_t *req, const nox_entry_t *e, const char *data,
                   size_t len) {
  many_t *m = nox_req_data(req);
  if (data == NULL) {
    char want[32];
    snprintf(want, sizeof(want), "d%03zu/f%06zu", m->headers % 1000,
             m->headers);
    m->in_order = m->in_order && strcmp(e->path, want) == 0;
    m->headers++;
  } else {
    m->bytes += len;
  }
  return 0;
}

/*
 * A 100,000-file tree through upload and download. The tree is in memory
 * (files source, entry sink): creating 100,000 files on this CI's disk
 * costs minutes, which would measure the disk, not the streaming.
 */
static void test_many_files(void) {
  alarm(LONG_WATCHDOG_S);
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("many");
  char arc[4096];
  snprintf(arc, sizeof(arc), "%s/many.tar.gz", root);
  nox_file_t *files = calloc(MANY, sizeof(*files));
  char(*names)[32] = calloc(MANY, 32);
  ASSERT(files != NULL && names != NULL);
  size_t total = 0;
  for (size_t i = 0; i < MANY; i++) {
    total += i % 7;
    snprintf(names[i], 32, "d%03zu/f%06zu", i % 1000, i);
    files[i].path = names[i];
    files[i].data = names[i];
    files[i].len = i % 7;
  }
  nox_client_t *c = client(&t, "files", 2);
  st_xfer_t up;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.files = files;
  uo.nfiles = MANY;
  uo.dest = arc;
  upload(&up, c, &uo);
  free(files);
  free(names);
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_EQ(up.rep.entries, MANY);

  many_t m;
  memset(&m, 0, sizeof(m));
  st_xfer_init(&m.x, &t);
  m.in_order = true;
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = arc;
  o.on_entry = on_many;
  o.progress = st_on_progress;
  ASSERT_EQ(nox_download(&m.x.req, c, "s", &o, NULL, st_on_done, &m), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&m.x, 0);
  ASSERT_EQ(m.headers, MANY);
  ASSERT(m.in_order);
  ASSERT_EQ(m.bytes, total);
  ASSERT_EQ(m.x.rep.entries, MANY);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* ---- a pause longer than the stall timeout is not a stall
 * --------------------- */

typedef struct {
  st_xfer_t x;
  uv_timer_t timer;
  bool paused;
  size_t got;
} long_pause_t;

static void on_long_resume(uv_timer_t *tm) {
  long_pause_t *p = tm->data;
  ASSERT_EQ(nox_req_resume(p->x.req), 0);
}

static int pause_once(nox_req_t *req, const char *buf, size_t len) {
  long_pause_t *p = nox_req_data(req);
  (void)buf;
  if (!p->paused) {
    p->paused = true;
    uv_timer_start(&p->timer, on_long_resume, 900, 0);
    return NOX_PAUSE;
  }
  p->got += len;
  return 0;
}

static void test_long_pause(void) {
  ht_t t;
  ht_begin(&t);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.request_timeout_ms = 300; /* the stall watch */
  o.max_retries = NOX_RETRIES_NONE;
  nox_client_t *c = ht_client(&t, "dl300000", &o);
  long_pause_t p;
  memset(&p, 0, sizeof(p));
  st_xfer_init(&p.x, &t);
  ASSERT_EQ(uv_timer_init(&t.loop, &p.timer), 0);
  p.timer.data = &p;
  ASSERT_EQ(nox_download(&p.x.req, c, "s", NULL, pause_once, st_on_done, &p),
            0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&p.x, 0);
  ASSERT_EQ(p.got, 300000);
  uv_close((uv_handle_t *)&p.timer, NULL);
  ht_end(&t);
}

static void test_bad_arguments(void) {
  ht_t t;
  ht_begin(&t);
  nox_client_t *c = client(&t, "files", 2);
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  ASSERT_EQ(nox_download(NULL, c, "s", &o, NULL, st_on_done, NULL), NOX_EINVAL);
  o.extract_dir = "/tmp/x";
  o.on_entry = on_entry;
  ASSERT_EQ(nox_download(NULL, c, "s", &o, NULL, st_on_done, NULL), NOX_EINVAL);
  nox_upload_options_t u = NOX_UPLOAD_OPTIONS_INIT;
  ASSERT_EQ(nox_upload(NULL, c, "s", &u, st_on_done, NULL), NOX_EINVAL);
  u.dir = "/tmp";
  u.read = read_src;
  ASSERT_EQ(nox_upload(NULL, c, "s", &u, st_on_done, NULL), NOX_EINVAL);
  ht_end(&t);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"roundtrip_dir", test_roundtrip_dir},
      {"files_to_entries", test_files_to_entries},
      {"read_source_and_raw_sink", test_read_source_and_raw_sink},
      {"include_exclude", test_include_exclude},
      {"hostile_corpus", test_hostile_corpus},
      {"cancel_mid_transfer", test_cancel_mid_transfer},
      {"many_files", test_many_files},
      {"long_pause", test_long_pause},
      {"bad_arguments", test_bad_arguments},
  };
  return HT_RUN(cases);
}
