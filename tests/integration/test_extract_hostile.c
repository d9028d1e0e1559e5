/*
 * Hostile archives on every extraction path: setuid/setgid files and
 * directories are written without those bits (downloads over HTTP, on
 * local: and through noxd; uploads on local: and into noxd), and a PAX path
 * or linkpath with an embedded NUL is refused, counted, and nothing is
 * written under the name before the NUL. The archives are built here, byte
 * by byte, so they hold exactly what a hostile sandbox would send.
 *
 * ctest runs this twice: as the user running ctest, and (when that is root)
 * again as nobody, through setpriv (tests/integration/extract.cmake).
 */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "noxd_util.h"
#include "stream_util.h"

/* ---- a tar written by hand ------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
} tarbuf_t;

static void tb_put(tarbuf_t *t, const void *p, size_t n) {
  size_t padded = (n + 511) & ~(size_t)511;
  if (t->len + padded + 1024 > t->cap) {
    t->cap = (t->len + padded + 1024) * 2;
    t->buf = realloc(t->buf, t->cap);
    ASSERT(t->buf != NULL);
  }
  memcpy(t->buf + t->len, p, n);
  memset(t->buf + t->len + n, 0, padded - n);
  t->len += padded;
}

/* One ustar header block (name and link at most 99 bytes), then data. */
static void tb_member(tarbuf_t *t, char type, const char *name, unsigned mode,
                      const char *link, const void *data, size_t len) {
  char h[512];
  unsigned sum = 0;
  memset(h, 0, sizeof(h));
  snprintf(h, 100, "%s", name);
  snprintf(h + 100, 8, "%07o", mode);
  snprintf(h + 108, 8, "%07o", 0u);
  snprintf(h + 116, 8, "%07o", 0u);
  snprintf(h + 124, 12, "%011zo", len);
  snprintf(h + 136, 12, "%011o", 1700000000u);
  h[156] = type;
  if (link != NULL)
    snprintf(h + 157, 100, "%s", link);
  memcpy(h + 257, "ustar\0" "00", 8);
  memset(h + 148, ' ', 8);
  for (size_t i = 0; i < sizeof(h); i++)
    sum += (unsigned char)h[i];
  snprintf(h + 148, 8, "%06o", sum);
  tb_put(t, h, sizeof(h));
  if (len > 0)
    tb_put(t, data, len);
}

/* A pax 'x' header with one record "LEN key=value\n" (value has len vlen). */
static void tb_pax(tarbuf_t *t, const char *key, const char *value,
                   size_t vlen) {
  char rec[512];
  size_t body = strlen(key) + vlen + 3, digits = 1, n;
  for (n = body + 1; n >= 10; n /= 10)
    digits++;
  size_t total = body + digits;
  if (snprintf(NULL, 0, "%zu", total) != (int)digits)
    total++;
  int k = snprintf(rec, sizeof(rec), "%zu %s=", total, key);
  memcpy(rec + k, value, vlen);
  rec[k + vlen] = '\n';
  ASSERT_EQ(k + vlen + 1, total);
  tb_member(t, 'x', "PaxHeaders/x", 0644, NULL, rec, total);
}

static void tb_end(tarbuf_t *t) {
  char zero[1024] = {0};
  tb_put(t, zero, sizeof(zero));
}

/* suid.bin 4755, sgid.bin 2755, suid-sgid.bin 6777 and a directory 2775. */
static void setid_archive(tarbuf_t *t) {
  memset(t, 0, sizeof(*t));
  tb_member(t, '5', "sgid.dir/", 02775, NULL, NULL, 0);
  tb_member(t, '0', "sgid.dir/inner.txt", 0644, NULL, "in", 2);
  tb_member(t, '0', "suid.bin", 04755, NULL, "#!/bin/sh\n", 10);
  tb_member(t, '0', "sgid.bin", 02755, NULL, "#!/bin/sh\n", 10);
  tb_member(t, '0', "suid-sgid.bin", 06777, NULL, "#!/bin/sh\n", 10);
  tb_member(t, '0', "plain.txt", 0640, NULL, "plain", 5);
  tb_end(t);
}

/* Members whose pax path or linkpath has a NUL, between two plain ones. */
static void nul_archive(tarbuf_t *t) {
  memset(t, 0, sizeof(*t));
  tb_member(t, '0', "ok.txt", 0644, NULL, "ok", 2);
  /* The ustar name is what a C reader of the pax value would see. */
  tb_pax(t, "path", "good\0evil", 9);
  tb_member(t, '0', "good", 0644, NULL, "evil data", 9);
  tb_pax(t, "linkpath", "ok.txt\0/etc/passwd", 18);
  tb_member(t, '2', "lnk", 0777, "ok.txt", NULL, 0);
  tb_member(t, '0', "after.txt", 0644, NULL, "after", 5);
  tb_end(t);
}

/* ---- checks ------------------------------------------------------------ */

static const char *const setid_names[] = {"sgid.dir", "sgid.dir/inner.txt",
                                          "suid.bin", "sgid.bin",
                                          "suid-sgid.bin", "plain.txt"};
static const unsigned setid_want[] = {0775, 0644, 0755, 0755, 0777, 0640};

/* Every member is there with its mode minus the setuid/setgid bits. */
static void check_setid_tree(const char *dir) {
  for (size_t i = 0; i < sizeof(setid_names) / sizeof(setid_names[0]); i++) {
    char p[4400];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, setid_names[i]);
    ASSERT_EQ(lstat(p, &st), 0);
    if ((st.st_mode & (S_ISUID | S_ISGID)) != 0)
      fprintf(stderr, "%s is %o\n", p, (unsigned)(st.st_mode & 07777));
    ASSERT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0);
    ASSERT_EQ(st.st_mode & 0777, setid_want[i]);
  }
}

/* Puts the bits back on an extracted tree, as a sandbox may have them. */
static void plant_setid(const char *dir) {
  static const unsigned modes[] = {02775, 0, 04755, 02755, 06777, 0};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    char p[4400];
    struct stat st;
    if (modes[i] == 0)
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, setid_names[i]);
    ASSERT_EQ(chmod(p, modes[i]), 0);
    ASSERT_EQ(stat(p, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, modes[i]);
  }
}

static void check_nul_tree(const char *dir, bool downloaded) {
  char p[4400];
  snprintf(p, sizeof(p), "%s/good", dir);
  ASSERT(!st_exists(p));
  snprintf(p, sizeof(p), "%s/lnk", dir);
  ASSERT(!st_exists(p));
  snprintf(p, sizeof(p), "%s/ok.txt", dir);
  ASSERT(st_exists(p));
  if (downloaded) {
    snprintf(p, sizeof(p), "%s/after.txt", dir);
    ASSERT(st_exists(p));
  }
}

/* The workspace of the only sandbox under a local root (malloc'd). */
static char *workspace_of(const char *root) {
  char pat[4200];
  glob_t g;
  snprintf(pat, sizeof(pat), "%s/*/workspace", root);
  ASSERT_EQ(glob(pat, 0, NULL, &g), 0);
  ASSERT_EQ(g.gl_pathc, 1);
  char *ws = strdup(g.gl_pathv[0]);
  globfree(&g);
  return ws;
}

/* ---- transfers ---------------------------------------------------------- */

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  int *st = nox_req_data(req);
  (void)info;
  *st = status;
}

static void make_sandbox(ht_t *t, nox_client_t *c, const char *id) {
  int st = 1;
  ASSERT_EQ(nox_create(NULL, c, id, NULL, on_created, &st), 0);
  while (st == 1)
    uv_run(&t->loop, UV_RUN_ONCE);
  ASSERT_EQ(st, 0);
}

static void upload_archive(ht_t *t, st_xfer_t *x, nox_client_t *c,
                           const char *id, const tarbuf_t *tb,
                           const char *dest) {
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.archive = tb->buf;
  uo.archive_len = tb->len;
  uo.dest = dest;
  st_xfer_init(x, t);
  ASSERT_EQ(nox_upload(&x->req, c, id, &uo, st_on_done, x), 0);
  t->pending++;
  ht_wait(t);
}

static nox_client_t *local_client(ht_t *t, const char *sandboxes) {
  char url[4200];
  nox_client_t *c;
  snprintf(url, sizeof(url), "local://%s", sandboxes);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  o.isolation = NOX_ISOLATION_NONE;
  o.tar_workers = 1;
  ASSERT_EQ(nox_client_new(&c, &t->loop, &o), 0);
  t->client = c;
  t->clients = 1;
  return c;
}

/*
 * A local: client over a fresh root/sandboxes with sandbox "a" made;
 * *root is the caller's to remove and free.
 */
static nox_client_t *local_sandbox(ht_t *t, const char *tag, char *sb,
                                   size_t sblen, char **root) {
  *root = st_mkdtemp(tag);
  snprintf(sb, sblen, "%s/sandboxes", *root);
  ASSERT_EQ(mkdir(sb, 0700), 0);
  nox_client_t *c = local_client(t, sb);
  make_sandbox(t, c, "a");
  return c;
}

static void begin_loop(ht_t *t) {
  memset(t, 0, sizeof(*t));
  ASSERT_EQ(uv_loop_init(&t->loop), 0);
}

/* A download over HTTP of an archive faultd serves from a file. */
static void test_setid_http(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("setid-http");
  tarbuf_t tb;
  setid_archive(&tb);
  st_write(root, "setid.tar", tb.buf, tb.len, 0644);
  char src[4200], out[4200];
  snprintf(src, sizeof(src), "%s/setid.tar", root);
  snprintf(out, sizeof(out), "%s/out", root);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_retries = NOX_RETRIES_NONE;
  nox_client_t *c = ht_client(&t, "files", &o);
  st_xfer_t x;
  st_download_dir(&t, &x, c, "s", src, out);
  ST_EXPECT(&x, 0);
  ASSERT_UEQ(x.rep.stripped, 4);
  ASSERT_UEQ(x.rep.refused, 0);
  check_setid_tree(out);
  free(tb.buf);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* local: an upload extracts in place; a download extracts a packed tree. */
static void test_setid_local(void) {
  ht_t t;
  begin_loop(&t);
  char *root;
  char sb[4200], out[4200];
  nox_client_t *c = local_sandbox(&t, "setid-local", sb, sizeof(sb), &root);
  tarbuf_t tb;
  setid_archive(&tb);
  st_xfer_t x;
  upload_archive(&t, &x, c, "a", &tb, "/workspace/up");
  ST_EXPECT(&x, 0);
  ASSERT_UEQ(x.rep.stripped, 4);
  char *ws = workspace_of(sb);
  snprintf(out, sizeof(out), "%s/up", ws);
  check_setid_tree(out);

  plant_setid(out);
  snprintf(out, sizeof(out), "%s/out", root);
  st_download_dir(&t, &x, c, "a", "/workspace/up", out);
  ST_EXPECT(&x, 0);
  ASSERT_UEQ(x.rep.stripped, 4);
  check_setid_tree(out);
  free(ws);
  free(tb.buf);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* noxd extracts an upload with the local backend; downloads come back. */
static void test_setid_noxd(void) {
#ifndef NOX_HAVE_NOXD
  printf("  skipped: noxd is not built\n");
  return;
#else
  noxd_test_t noxd;
  ASSERT_EQ(noxd_test_start(&noxd, "none", NULL), 0);
  ht_t t;
  begin_loop(&t);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = noxd.srv.url;
  o.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&t.client, &t.loop, &o), 0);
  t.clients = 1;
  make_sandbox(&t, t.client, "n");
  tarbuf_t tb;
  setid_archive(&tb);
  st_xfer_t x;
  upload_archive(&t, &x, t.client, "n", &tb, "/workspace/up");
  ST_EXPECT(&x, 0);
  char *ws = workspace_of(noxd.root);
  char in[4200], out[4200];
  snprintf(in, sizeof(in), "%s/up", ws);
  check_setid_tree(in);

  plant_setid(in);
  char *root = st_mkdtemp("setid-noxd");
  snprintf(out, sizeof(out), "%s/out", root);
  st_download_dir(&t, &x, t.client, "n", "/workspace/up", out);
  ST_EXPECT(&x, 0);
  ASSERT_UEQ(x.rep.stripped, 4);
  check_setid_tree(out);
  free(ws);
  free(tb.buf);
  ht_end(&t);
  ASSERT_EQ(noxd_test_stop(&noxd), 0);
  st_rmtree(root);
  free(root);
#endif
}

/* A download skips and counts each NUL-named member and goes on. */
static void test_nul_path_http(void) {
  ht_t t;
  ht_begin(&t);
  char *root = st_mkdtemp("nul-http");
  tarbuf_t tb;
  nul_archive(&tb);
  st_write(root, "nul.tar", tb.buf, tb.len, 0644);
  char src[4200], out[4200];
  snprintf(src, sizeof(src), "%s/nul.tar", root);
  snprintf(out, sizeof(out), "%s/out", root);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_retries = NOX_RETRIES_NONE;
  nox_client_t *c = ht_client(&t, "files", &o);
  st_xfer_t x;
  st_download_dir(&t, &x, c, "s", src, out);
  ST_EXPECT(&x, 0);
  ASSERT_UEQ(x.rep.refused, 2);
  ASSERT_STR_EQ(x.rep.first_refused, "good");
  ASSERT_UEQ(x.rep.entries, 2);
  check_nul_tree(out, true);
  free(tb.buf);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

/* An upload fails on the first refusal, naming it; nothing is written. */
static void test_nul_path_local_upload(void) {
  ht_t t;
  begin_loop(&t);
  char *root;
  char sb[4200], dir[4200];
  nox_client_t *c = local_sandbox(&t, "nul-local", sb, sizeof(sb), &root);
  tarbuf_t tb;
  nul_archive(&tb);
  st_xfer_t x;
  upload_archive(&t, &x, c, "a", &tb, "/workspace/up");
  ST_EXPECT(&x, NOX_EARCHIVE);
  ASSERT(strstr(x.err.message, "NUL") != NULL);
  char *ws = workspace_of(sb);
  snprintf(dir, sizeof(dir), "%s/up", ws);
  check_nul_tree(dir, false);
  free(ws);
  free(tb.buf);
  ht_end(&t);
  st_rmtree(root);
  free(root);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"setid_http", test_setid_http},
      {"setid_local", test_setid_local},
      {"setid_noxd", test_setid_noxd},
      {"nul_path_http", test_nul_path_http},
      {"nul_path_local_upload", test_nul_path_local_upload},
  };
  printf("running as uid %d\n", (int)getuid());
  return HT_RUN(cases);
}
