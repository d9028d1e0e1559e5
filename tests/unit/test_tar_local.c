/*
 * lib/tar: packing files and trees, and safe extraction, on real archives
 * and real directories. Hostile archives are built with libarchive itself
 * (any member name, type or link is allowed by its writer). Extraction
 * takes the path an upload takes: the archive goes through a stream's
 * bounded pipe to a pool worker that unpacks it in place, stopping at the
 * first refused member.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tar/stream.h"
#include "tar/tar.h"
#include "test.h"

static int sink(void *data, const void *buf, size_t len) {
  return nox__buf_append(data, buf, len);
}

static int failing_sink(void *data, const void *buf, size_t len) {
  (void)data;
  (void)buf;
  (void)len;
  return NOX_EUSER;
}

/* ---- extraction through a stream ------------------------------------------
 */

static uv_loop_t loop;
static nox__pool_t *pool;

typedef struct {
  bool done;
  int status;
  char msg[256];
} outcome_t;

static void on_wake(nox__stream_t *s) {
  outcome_t *o = s->owner;
  nox_transfer_report_t rep;
  if (nox__stream_snapshot(s, &rep, &o->status, o->msg, sizeof(o->msg)))
    o->done = true;
}

/*
 * Unpacks len bytes of buf into the existing directory dir as an upload
 * does (lim may be NULL). Returns the job's status; err gets its message.
 */
static int extract(const void *buf, size_t len, const char *dir,
                   const nox_extract_limits_t *lim, char *err, size_t errlen) {
  outcome_t o;
  memset(&o, 0, sizeof(o));
  nox__stream_t *s =
      nox__stream_new(&loop, NOX__STREAM_EXTRACT, 4096, on_wake, &o);
  ASSERT(s != NULL);
  s->dir = strdup(dir);
  ASSERT(s->dir != NULL);
  s->in_place = true;
  if (lim != NULL)
    s->limits = *lim;
  ASSERT_EQ(nox__stream_start(s, pool), 0);
  /* 1000-byte pushes into a 4 KiB pipe: the loop waits for the worker. */
  for (size_t off = 0; off < len && !o.done;) {
    size_t n = len - off < 1000 ? len - off : 1000;
    size_t r = nox__stream_push(s, (const char *)buf + off, n);
    if (r == (size_t)-1)
      break;
    if (r == 0)
      uv_run(&loop, UV_RUN_ONCE);
    off += r;
  }
  nox__stream_finish(s);
  while (!o.done)
    uv_run(&loop, UV_RUN_ONCE);
  nox__stream_release(s);
  snprintf(err, errlen, "%s", o.msg);
  return o.status;
}

/* ---- building archives -------------------------------------------------- */

typedef struct {
  struct archive *a;
  nox__buf_t out;
} builder_t;

static la_ssize_t builder_write(struct archive *a, void *data, const void *buf,
                                size_t len) {
  (void)a;
  ASSERT_EQ(nox__buf_append(data, buf, len), 0);
  return (la_ssize_t)len;
}

static void build_begin(builder_t *b, int gzip) {
  memset(b, 0, sizeof(*b));
  b->a = archive_write_new();
  ASSERT(b->a != NULL);
  ASSERT_EQ(archive_write_set_format_pax_restricted(b->a), ARCHIVE_OK);
  if (gzip)
    ASSERT_EQ(archive_write_add_filter_gzip(b->a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open(b->a, &b->out, NULL, builder_write, NULL),
            ARCHIVE_OK);
}

/* type: 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'p' FIFO, 'c' chr. */
static void build_add(builder_t *b, const char *name, char type,
                      const char *link, const char *body) {
  struct archive_entry *e = archive_entry_new();
  size_t len = body ? strlen(body) : 0;
  archive_entry_set_pathname(e, name);
  archive_entry_set_perm(e, 0644);
  switch (type) {
  case 'd':
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    break;
  case 'l':
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_symlink(e, link);
    break;
  case 'h':
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_hardlink(e, link);
    break;
  case 'p':
    archive_entry_set_filetype(e, AE_IFIFO);
    break;
  case 'c':
    archive_entry_set_filetype(e, AE_IFCHR);
    archive_entry_set_rdev(e, makedev(1, 3));
    break;
  default:
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (la_int64_t)len);
  }
  ASSERT_EQ(archive_write_header(b->a, e), ARCHIVE_OK);
  if (type == 'f' && len > 0)
    ASSERT_EQ(archive_write_data(b->a, body, len), (la_ssize_t)len);
  archive_entry_free(e);
}

static void build_end(builder_t *b) {
  ASSERT_EQ(archive_write_close(b->a), ARCHIVE_OK);
  archive_write_free(b->a);
}

/* ---- directories -------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int type,
                    struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

static char *mkdir_tmp(void) {
  char *p = strdup("/tmp/nox-tar-XXXXXX");
  ASSERT(p != NULL && mkdtemp(p) != NULL);
  return p;
}

static void rm_tmp(char *p) {
  nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(p);
}

static char *read_file(const char *dir, const char *name) {
  char path[1024];
  static char buf[4096];
  FILE *f;
  size_t n;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static int exists(const char *dir, const char *name) {
  char path[1024];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return lstat(path, &st) == 0;
}

/* Member names of an archive, "\n"-joined, in archive order. */
static void list_members(const nox__buf_t *arc, char *out, size_t len) {
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  size_t used = 0;
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  ASSERT_EQ(archive_read_open_memory(a, arc->data, arc->len), ARCHIVE_OK);
  out[0] = '\0';
  while (archive_read_next_header(a, &e) == ARCHIVE_OK)
    used += (size_t)snprintf(out + used, len - used, "%s%s\n",
                             archive_entry_pathname(e),
                             archive_entry_filetype(e) == AE_IFLNK ? "@" : "");
  archive_read_free(a);
}

/* ---- tests -------------------------------------------------------------- */

static void test_path_is_safe(void) {
  ASSERT(nox__tar_path_is_safe("a"));
  ASSERT(nox__tar_path_is_safe("a/b/c.txt"));
  ASSERT(nox__tar_path_is_safe("./a"));
  ASSERT(nox__tar_path_is_safe("a..b"));
  ASSERT(nox__tar_path_is_safe("..a/b"));
  ASSERT(!nox__tar_path_is_safe(NULL));
  ASSERT(!nox__tar_path_is_safe(""));
  ASSERT(!nox__tar_path_is_safe("/etc/passwd"));
  ASSERT(!nox__tar_path_is_safe(".."));
  ASSERT(!nox__tar_path_is_safe("../a"));
  ASSERT(!nox__tar_path_is_safe("a/../../b"));
  ASSERT(!nox__tar_path_is_safe("a/.."));
  ASSERT(!nox__tar_path_is_safe("dir/"));
  ASSERT(!nox__tar_path_is_safe("."));
  ASSERT(!nox__tar_path_is_safe("a/."));
}

static void on_closed(void *data) {
  *(bool *)data = true;
}

static void test_pack_files_roundtrip(void) {
  nox_file_t files[] = {{"a.txt", "hello", 5, 0},
                        {"sub/dir/run.sh", "#!/bin/sh\n", 10, 0750},
                        {"empty", NULL, 0, 0}};
  nox_file_t bad[] = {{"ok", "x", 1, 0}, {"../up", "x", 1, 0}};
  nox__buf_t arc = {0};
  char err[256], *dir = mkdir_tmp(), path[1024];
  struct stat st;

  ASSERT_EQ(nox__tar_pack_files_to(files, 3, true, sink, NULL, NULL, &arc, err,
                                   sizeof(err)),
            0);
  ASSERT_EQ((unsigned char)arc.data[0], 0x1f);
  ASSERT_EQ(extract(arc.data, arc.len, dir, NULL, err, sizeof(err)), 0);
  ASSERT_STR_EQ(read_file(dir, "a.txt"), "hello");
  ASSERT_STR_EQ(read_file(dir, "sub/dir/run.sh"), "#!/bin/sh\n");
  ASSERT_STR_EQ(read_file(dir, "empty"), "");
  snprintf(path, sizeof(path), "%s/a.txt", dir);
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0644 & ~(unsigned)umask(022));
  snprintf(path, sizeof(path), "%s/sub/dir/run.sh", dir);
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT(st.st_mode & 0100);
  nox__buf_reset(&arc);

  /* An unsafe member path is refused before anything is packed or sent. */
  nox_client_t *c;
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  snprintf(path, sizeof(path), "local://%s", dir);
  o.base_url = path;
  o.isolation = NOX_ISOLATION_NONE;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.files = bad;
  uo.nfiles = 2;
  ASSERT_EQ(nox_upload(NULL, c, "s", &uo, NULL, NULL), NOX_EINVAL);
  bool closed = false;
  nox_client_close(c, on_closed, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT(!exists(dir, "ok"));
  rm_tmp(dir);
}

/* Extracting arc into a fresh dir must fail with code, naming needle. */
static void expect_refused(builder_t *b, int code, const char *needle) {
  char err[256] = "", *dir = mkdir_tmp();
  ASSERT_EQ(extract(b->out.data, b->out.len, dir, NULL, err, sizeof(err)),
            code);
  if (strstr(err, needle) == NULL)
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err, needle);
  ASSERT(strstr(err, needle) != NULL);
  ASSERT(!exists(dir, "../escaped"));
  rm_tmp(dir);
  nox__buf_reset(&b->out);
}

static void test_extract_refusals(void) {
  builder_t b;

  build_begin(&b, 1);
  build_add(&b, "/tmp/nox-abs-escape", 'f', NULL, "x");
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "/tmp/nox-abs-escape");
  ASSERT_NE(access("/tmp/nox-abs-escape", F_OK), 0);

  build_begin(&b, 1);
  build_add(&b, "../escaped", 'f', NULL, "x");
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "../escaped");

  build_begin(&b, 0);
  build_add(&b, "a/../../escaped", 'f', NULL, "x");
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "a/../../escaped");

  build_begin(&b, 1);
  build_add(&b, "abs-link", 'l', "/etc", NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "abs-link");

  build_begin(&b, 1);
  build_add(&b, "d/up-link", 'l', "../../x", NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "d/up-link");

  /* ".." after a name could climb out of a symlinked directory. */
  build_begin(&b, 1);
  build_add(&b, "dot", 'l', ".", NULL);
  build_add(&b, "sneaky", 'l', "dot/..", NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "sneaky");

  build_begin(&b, 1);
  build_add(&b, "hl", 'h', "../../etc/passwd", NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "hl");

  build_begin(&b, 1);
  build_add(&b, "hl", 'h', "/etc/passwd", NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "hl");

  build_begin(&b, 1);
  build_add(&b, "fifo", 'p', NULL, NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "fifo");

  build_begin(&b, 1);
  build_add(&b, "null", 'c', NULL, NULL);
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "null");

  /* Writing through a symlink the archive itself made. */
  build_begin(&b, 1);
  build_add(&b, "real", 'd', NULL, NULL);
  build_add(&b, "via", 'l', "real", NULL);
  build_add(&b, "via/file", 'f', NULL, "x");
  build_end(&b);
  expect_refused(&b, NOX_EARCHIVE, "via/file");

  /* Not an archive; and mtree, which could read host files, is not read. */
  nox__buf_append(&b.out, "#mtree\nx type=file contents=/etc/hostname\n", 43);
  expect_refused(&b, NOX_EARCHIVE, "not a readable archive");
  nox__buf_append(&b.out, "\x1f\x8b garbage", 10);
  expect_refused(&b, NOX_EARCHIVE, "");
}

static void test_extract_through_existing_symlink(void) {
  char *dir = mkdir_tmp(), *outside = mkdir_tmp(), link[1024], err[256];
  builder_t b;

  snprintf(link, sizeof(link), "%s/out", dir);
  ASSERT_EQ(symlink(outside, link), 0);
  build_begin(&b, 1);
  build_add(&b, "out/planted", 'f', NULL, "x");
  build_end(&b);
  ASSERT_EQ(extract(b.out.data, b.out.len, dir, NULL, err, sizeof(err)),
            NOX_EARCHIVE);
  ASSERT(strstr(err, "out/planted") != NULL);
  ASSERT(!exists(outside, "planted"));
  nox__buf_reset(&b.out);
  rm_tmp(dir);
  rm_tmp(outside);
}

static void test_extract_allowed_links(void) {
  char *dir = mkdir_tmp(), err[256], path[1024], target[256];
  builder_t b;
  ssize_t n;

  build_begin(&b, 1);
  build_add(&b, "./", 'd', NULL, NULL); /* the destination itself: skipped */
  build_add(&b, "d/e/f.txt", 'f', NULL, "content");
  build_add(&b, "d/e/up", 'l', "../../top.txt", NULL);
  build_add(&b, "d/same", 'l', "e/f.txt", NULL);
  build_add(&b, "top.txt", 'f', NULL, "top");
  build_add(&b, "hard", 'h', "d/e/f.txt", NULL);
  build_end(&b);
  ASSERT_EQ(extract(b.out.data, b.out.len, dir, NULL, err, sizeof(err)), 0);
  ASSERT_STR_EQ(read_file(dir, "d/e/up"), "top");
  ASSERT_STR_EQ(read_file(dir, "d/same"), "content");
  ASSERT_STR_EQ(read_file(dir, "hard"), "content");
  snprintf(path, sizeof(path), "%s/d/e/up", dir);
  n = readlink(path, target, sizeof(target) - 1);
  ASSERT_GT(n, 0);
  target[n] = '\0';
  ASSERT_STR_EQ(target, "../../top.txt");
  nox__buf_reset(&b.out);
  rm_tmp(dir);
}

static void test_extract_limits(void) {
  char *dir = mkdir_tmp(), err[256], big[300];
  nox_extract_limits_t lim = {3, 0, 0, 0};
  builder_t b;

  build_begin(&b, 1);
  build_add(&b, "1", 'f', NULL, "a");
  build_add(&b, "2", 'f', NULL, "b");
  build_add(&b, "3", 'f', NULL, "c");
  build_add(&b, "4", 'f', NULL, "d");
  build_end(&b);
  ASSERT_EQ(extract(b.out.data, b.out.len, dir, &lim, err, sizeof(err)),
            NOX_ETOOBIG);
  ASSERT(strstr(err, "3 entries") != NULL);
  lim.max_entries = 4;
  ASSERT_EQ(extract(b.out.data, b.out.len, dir, &lim, err, sizeof(err)), 0);
  nox__buf_reset(&b.out);

  memset(big, 'z', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  build_begin(&b, 1);
  build_add(&b, "small", 'f', NULL, "0123456789");
  build_add(&b, "big", 'f', NULL, big);
  build_end(&b);
  lim.max_entries = 0;
  lim.max_bytes = 200;
  ASSERT_EQ(extract(b.out.data, b.out.len, dir, &lim, err, sizeof(err)),
            NOX_ETOOBIG);
  ASSERT(strstr(err, "big") != NULL);
  lim.max_bytes = 400;
  ASSERT_EQ(extract(b.out.data, b.out.len, dir, &lim, err, sizeof(err)), 0);
  nox__buf_reset(&b.out);
  rm_tmp(dir);
}

/* What a dir upload or a download runs on its worker, without filters. */
static int pack_path(const char *path, nox__tar_chunk_cb cb, void *data,
                     char *err, size_t errlen) {
  return nox__tar_pack_filtered(path, NULL, NULL, true, cb, NULL, NULL, data, err,
                                errlen);
}

static void test_pack_path(void) {
  char *dir = mkdir_tmp(), *dst = mkdir_tmp(), path[1024], names[4096],
       again[4096], err[256];
  nox__buf_t arc = {0}, arc2 = {0};
  const char *files[] = {"b.txt", "a.txt", "sub/z", "sub/c", "sub/deep/x"};
  size_t i;

  snprintf(path, sizeof(path), "%s/sub", dir);
  ASSERT_EQ(mkdir(path, 0755), 0);
  snprintf(path, sizeof(path), "%s/sub/deep", dir);
  ASSERT_EQ(mkdir(path, 0755), 0);
  for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(files[i], f);
    fclose(f);
  }
  snprintf(path, sizeof(path), "%s/link", dir);
  ASSERT_EQ(symlink("/etc/passwd", path), 0); /* stored, never followed */
  snprintf(path, sizeof(path), "%s/fifo", dir);
  ASSERT_EQ(mkfifo(path, 0644), 0); /* skipped */

  ASSERT_EQ(pack_path(dir, sink, &arc, err, sizeof(err)), 0);
  list_members(&arc, names, sizeof(names));
  ASSERT_STR_EQ(names, "a.txt\nb.txt\nlink@\nsub/\nsub/c\nsub/deep/\n"
                       "sub/deep/x\nsub/z\n");
  /* The same tree packs the same way. */
  ASSERT_EQ(pack_path(dir, sink, &arc2, err, sizeof(err)), 0);
  list_members(&arc2, again, sizeof(again));
  ASSERT_STR_EQ(names, again);
  nox__buf_reset(&arc2);

  /* What we pack, our extractor takes back (the link points out: refused,
     but everything before it is there). */
  ASSERT_EQ(extract(arc.data, arc.len, dst, NULL, err, sizeof(err)),
            NOX_EARCHIVE);
  ASSERT(strstr(err, "link") != NULL);
  ASSERT_STR_EQ(read_file(dst, "a.txt"), "a.txt");
  nox__buf_reset(&arc);

  /* A subdirectory and a single file. */
  snprintf(path, sizeof(path), "%s/sub/", dir);
  ASSERT_EQ(pack_path(path, sink, &arc, err, sizeof(err)), 0);
  list_members(&arc, names, sizeof(names));
  ASSERT_STR_EQ(names, "c\ndeep/\ndeep/x\nz\n");
  nox__buf_reset(&arc);
  snprintf(path, sizeof(path), "%s/sub/deep/x", dir);
  ASSERT_EQ(pack_path(path, sink, &arc, err, sizeof(err)), 0);
  list_members(&arc, names, sizeof(names));
  ASSERT_STR_EQ(names, "x\n");
  nox__buf_reset(&arc);

  /* Missing source; a sink that stops the packer. */
  snprintf(path, sizeof(path), "%s/missing", dir);
  ASSERT_EQ(pack_path(path, sink, &arc, err, sizeof(err)), NOX_ENOTFOUND);
  ASSERT_EQ(pack_path(dir, failing_sink, NULL, err, sizeof(err)), NOX_EUSER);
  nox__buf_reset(&arc);
  rm_tmp(dir);
  rm_tmp(dst);
}

/* The archive (first, as sink() appends to it) and what data_cb saw. */
typedef struct {
  nox__buf_t arc;
  size_t calls, bytes;
} counted_t;

static void count_slices(void *data, size_t n) {
  counted_t *c = data;
  c->calls++;
  c->bytes += n;
}

/*
 * A large file's data is counted as it is written, slice by slice: over a
 * stream, a write blocks while the pipe is full, so a single count at the
 * end of the file would leave a progress bar at 0% until it had gone.
 */
static void test_pack_counts_slices(void) {
  size_t len = (size_t)1 << 20;
  char *big = calloc(1, len), err[256];
  ASSERT(big != NULL);
  nox_file_t f[] = {{"big.bin", big, len, 0}, {"small", "xy", 2, 0}};
  counted_t c;
  memset(&c, 0, sizeof(c));
  ASSERT_EQ(nox__tar_pack_files_to(f, 2, false, sink, NULL, count_slices, &c,
                                   err, sizeof(err)),
            0);
  ASSERT_EQ(c.bytes, len + 2);
  ASSERT_GT(c.calls, 8); /* 1 MiB in slices of at most 64 KiB, and 1 */
  free(c.arc.data);
  free(big);
}

/* The archive (first, as sink() appends to it) and the tree being packed. */
typedef struct {
  nox__buf_t arc;
  const char *dir;
  int entries;
} changing_t;

/* After the first member: the tree changes under the packer's walk. */
static void change_tree(void *data) {
  changing_t *c = data;
  char path[1024];
  if (c->entries++ != 0)
    return;
  snprintf(path, sizeof(path), "%s/b", c->dir);
  ASSERT_EQ(unlink(path), 0); /* a symlink that is gone */
  snprintf(path, sizeof(path), "%s/c", c->dir);
  ASSERT_EQ(unlink(path), 0); /* a symlink that became a file */
  FILE *f = fopen(path, "w");
  ASSERT(f != NULL);
  fclose(f);
  snprintf(path, sizeof(path), "%s/d", c->dir);
  ASSERT_EQ(unlink(path), 0); /* a file that became a symlink */
  ASSERT_EQ(symlink("a", path), 0);
  snprintf(path, sizeof(path), "%s/e", c->dir);
  ASSERT_EQ(unlink(path), 0); /* a file that is gone */
}

/*
 * Entries removed or replaced between the listing of their directory and
 * their visit (a concurrent upload renames over them): the gone ones are
 * left out, the others are packed as what they are now, never as a mix.
 */
static void test_pack_changing_tree(void) {
  char *dir = mkdir_tmp(), path[1024], names[256], err[256];
  const char *files[] = {"a", "d", "e"};
  changing_t c;
  size_t i;

  for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fclose(f);
  }
  snprintf(path, sizeof(path), "%s/b", dir);
  ASSERT_EQ(symlink("a", path), 0);
  snprintf(path, sizeof(path), "%s/c", dir);
  ASSERT_EQ(symlink("a", path), 0);
  memset(&c, 0, sizeof(c));
  c.dir = dir;
  ASSERT_EQ(nox__tar_pack_filtered(dir, NULL, NULL, true, sink, change_tree,
                                   NULL, &c, err, sizeof(err)),
            0);
  list_members(&c.arc, names, sizeof(names));
  ASSERT_STR_EQ(names, "a\nc\nd@\n");
  ASSERT_EQ(c.entries, 3);
  nox__buf_reset(&c.arc);
  rm_tmp(dir);
}

int main(void) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  pool = nox__pool_new(2);
  ASSERT(pool != NULL);
  test_path_is_safe();
  test_pack_files_roundtrip();
  test_pack_counts_slices();
  test_extract_refusals();
  test_extract_through_existing_symlink();
  test_extract_allowed_links();
  test_extract_limits();
  test_pack_path();
  test_pack_changing_tree();
  nox__pool_free(pool);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
