/*
 * Helpers of the streaming-transfer tests (see stream_util.h).
 */
#include "stream_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *st_mkdtemp(const char *tag) {
  const char *tmp = getenv("TMPDIR");
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s/nox-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
           tag);
  ASSERT(mkdtemp(buf) != NULL);
  char real[4096];
  ASSERT(realpath(buf, real) != NULL);
  return strdup(real);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

void st_rmtree(const char *path) {
  /* A refused member may have left a dir without write permission. */
  nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

void st_write(const char *root, const char *rel, const void *data, size_t len,
              unsigned mode) {
  char path[8192];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST);
    *p = '/';
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT(fd >= 0);
  const char *d = data;
  while (len > 0) {
    ssize_t n = write(fd, d, len);
    ASSERT(n > 0);
    d += n;
    len -= (size_t)n;
  }
  ASSERT_EQ(close(fd), 0);
  ASSERT_EQ(chmod(path, mode), 0);
}

char *st_read(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return NULL;
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  char *buf = malloc((size_t)st.st_size + 1);
  ASSERT(buf != NULL);
  size_t got = 0;
  ssize_t n;
  while ((n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
    got += (size_t)n;
  close(fd);
  buf[got] = '\0';
  *len = got;
  return buf;
}

bool st_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* ---- snapshots ---------------------------------------------------------- */

typedef struct {
  char **lines;
  size_t n, cap;
  size_t rootlen;
  const char *skip;
  bool with_mtime;
} snap_t;

static snap_t *g_snap;

static uint64_t fnv(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static int snap_one(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  snap_t *s = g_snap;
  (void)flag;
  if (ftw->level == 0)
    return 0;
  const char *rel = path + s->rootlen + 1;
  if (s->skip != NULL) {
    size_t k = strlen(s->skip);
    if (strncmp(rel, s->skip, k) == 0 && (rel[k] == '\0' || rel[k] == '/'))
      return 0;
  }
  char extra[4200] = "";
  if (S_ISREG(st->st_mode)) {
    size_t len;
    char *data = st_read(path, &len);
    ASSERT(data != NULL);
    snprintf(extra, sizeof(extra), "%016llx",
             (unsigned long long)fnv(data, len));
    free(data);
  } else if (S_ISLNK(st->st_mode)) {
    ssize_t n = readlink(path, extra, sizeof(extra) - 1);
    ASSERT(n >= 0);
    extra[n] = '\0';
  }
  char type = S_ISREG(st->st_mode)   ? 'f'
              : S_ISDIR(st->st_mode) ? 'd'
              : S_ISLNK(st->st_mode) ? 'l'
                                     : '?';
  size_t need = strlen(rel) + strlen(extra) + 96;
  char *line = malloc(need);
  ASSERT(line != NULL);
  snprintf(line, need, "%s %c %04o %lld %s %lld", rel, type,
           (unsigned)(st->st_mode & 07777),
           S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size, extra,
           s->with_mtime && S_ISREG(st->st_mode) ? (long long)st->st_mtime
                                                 : 0LL);
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->lines = realloc(s->lines, s->cap * sizeof(*s->lines));
    ASSERT(s->lines != NULL);
  }
  s->lines[s->n++] = line;
  return 0;
}

static int cmp_lines(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char *st_snapshot(const char *root, const char *skip, bool with_mtime) {
  snap_t s = {NULL, 0, 0, strlen(root), skip, with_mtime};
  g_snap = &s;
  ASSERT_EQ(nftw(root, snap_one, 32, FTW_PHYS), 0);
  g_snap = NULL;
  if (s.n > 1)
    qsort(s.lines, s.n, sizeof(*s.lines), cmp_lines);
  size_t total = 1;
  for (size_t i = 0; i < s.n; i++)
    total += strlen(s.lines[i]) + 1;
  char *out = malloc(total), *w = out;
  ASSERT(out != NULL);
  for (size_t i = 0; i < s.n; i++) {
    size_t k = strlen(s.lines[i]);
    memcpy(w, s.lines[i], k);
    w[k] = '\n';
    w += k + 1;
    free(s.lines[i]);
  }
  *w = '\0';
  free(s.lines);
  return out;
}

static size_t g_count;

static int count_one(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw) {
  (void)path;
  (void)st;
  (void)flag;
  if (ftw->level > 0)
    g_count++;
  return 0;
}

size_t st_count(const char *root) {
  g_count = 0;
  ASSERT_EQ(nftw(root, count_one, 32, FTW_PHYS), 0);
  return g_count;
}

/* ---- transfer records ------------------------------------------------------
 */

void st_xfer_init(st_xfer_t *x, ht_t *t) {
  memset(x, 0, sizeof(*x));
  x->t = t;
  x->status = 1;
}

void st_download_dir(ht_t *t, st_xfer_t *x, nox_client_t *c, const char *id,
                     const char *src, const char *dir) {
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = src;
  o.extract_dir = dir;
  o.progress = st_on_progress;
  st_xfer_init(x, t);
  ASSERT_EQ(nox_download(&x->req, c, id, &o, NULL, st_on_done, x), 0);
  t->pending++;
  ht_wait(t);
}

void st_on_done(nox_req_t *req, int status) {
  st_xfer_t *x = nox_req_data(req);
  ASSERT_EQ(x->calls, 0);
  x->calls++;
  x->status = status;
  x->err = *nox_req_error(req);
  ASSERT(nox_req_transfer(req) != NULL);
  x->rep = *nox_req_transfer(req);
  x->t->pending--;
}

void st_on_progress(nox_req_t *req, const nox_progress_t *p) {
  st_xfer_t *x = nox_req_data(req);
  ASSERT_EQ(x->calls, 0);
  ASSERT(p->bytes >= x->last.bytes);
  ASSERT(p->entries >= x->last.entries);
  x->progress_calls++;
  x->last = *p;
  if (x->cancel_on_progress && !x->canceled) {
    x->canceled = true;
    ASSERT_EQ(nox_req_cancel(req), 0);
  }
}
