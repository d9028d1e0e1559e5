/*
 * The unpacking worker fed by the bounded pipe in chunks of every size from
 * 1 to 64 bytes, for a gzip tar and a plain tar: every split gives the same
 * entries and bytes. Also: a pipe smaller than the archive makes the loop
 * side wait (push returns 0) and resume when the worker drained it.
 */
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "tar/stream.h"
#include "tar/tar.h"
#include "test.h"

typedef struct {
  nox__stream_t *s;
  char log[8192];
  size_t loglen;
  bool done;
  int status;
  int waits;
} ctx_t;

static void on_wake(nox__stream_t *s) {
  ctx_t *c = s->owner;
  nox_transfer_report_t rep;
  int status;
  bool done = nox__stream_snapshot(s, &rep, &status, NULL, 0);
  nox__stream_ev_t *ev = nox__stream_take_events(s), *next;
  for (; ev != NULL; ev = next) {
    next = ev->next;
    int n;
    if (ev->header)
      n = snprintf(c->log + c->loglen, sizeof(c->log) - c->loglen,
                   "[%s %d %o %lld]", ev->entry.path, ev->entry.type,
                   ev->entry.mode, (long long)ev->entry.size);
    else
      n = snprintf(c->log + c->loglen, sizeof(c->log) - c->loglen, "%.*s",
                   (int)ev->len, ev->data);
    ASSERT(n > 0 && (size_t)n < sizeof(c->log) - c->loglen);
    c->loglen += (size_t)n;
    free(ev);
  }
  if (done) {
    c->done = true;
    c->status = status;
  }
}

static const nox_file_t files[] = {
    {"one.txt", "first file body", 15, 0644},
    {"dir/two.txt", "second", 6, 0600},
    {"dir/sub/three", "3333333333333333333333333333333333333333", 40, 0755},
};

/* The gzip tar, as a files upload's worker packs it. */
static int buf_sink(void *data, const void *buf, size_t len) {
  return nox__buf_append(data, buf, len) != 0 ? NOX_ENOMEM : 0;
}

/* A plain ustar archive of the same files, made with libarchive. */
static char *plain_tar(size_t *len) {
  size_t cap = 1 << 16, used = 0;
  char *buf = malloc(cap);
  struct archive *a = archive_write_new();
  ASSERT(buf != NULL && a != NULL);
  ASSERT_EQ(archive_write_set_format_ustar(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
  struct archive_entry *e = archive_entry_new();
  for (size_t i = 0; i < 3; i++) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, files[i].path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, files[i].mode);
    archive_entry_set_size(e, (la_int64_t)files[i].len);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(a, files[i].data, files[i].len),
              (la_ssize_t)files[i].len);
  }
  archive_entry_free(e);
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  *len = used;
  return buf;
}

/* Feeds buf to a fresh stream in k-byte pushes; returns the entry log. */
static void run_split(uv_loop_t *loop, nox__pool_t *pool, const char *buf,
                      size_t len, size_t k, size_t cap, ctx_t *c) {
  memset(c, 0, sizeof(*c));
  c->s = nox__stream_new(loop, NOX__STREAM_ENTRIES, cap, on_wake, c);
  ASSERT(c->s != NULL);
  ASSERT_EQ(nox__stream_start(c->s, pool), 0);
  for (size_t off = 0; off < len;) {
    size_t n = len - off < k ? len - off : k;
    size_t r = nox__stream_push(c->s, buf + off, n);
    if (r == (size_t)-1)
      break; /* the worker ended early (a bad archive) */
    if (r == 0) {
      /* Full: the worker's wake-up (or its events) moves us on. */
      c->waits++;
      uv_run(loop, UV_RUN_ONCE);
      continue;
    }
    ASSERT_EQ(r, n);
    off += n;
  }
  nox__stream_finish(c->s);
  while (!c->done)
    uv_run(loop, UV_RUN_ONCE);
  nox__stream_release(c->s);
}

int main(void) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox__pool_t *pool = nox__pool_new(2);
  ASSERT(pool != NULL);

  nox__buf_t gz = {0};
  char msg[256];
  ASSERT_EQ(nox__tar_pack_files_to(files, 3, true, buf_sink, NULL, NULL, &gz, msg,
                                   sizeof(msg)),
            0);
  size_t plen;
  char *plain = plain_tar(&plen);
  const char *want = "[one.txt 0 644 15]first file body"
                     "[dir/two.txt 0 600 6]second"
                     "[dir/sub/three 0 755 40]"
                     "3333333333333333333333333333333333333333";
  struct {
    const char *buf;
    size_t len;
  } inputs[] = {{gz.data, gz.len}, {plain, plen}};

  ctx_t c;
  for (size_t in = 0; in < 2; in++) {
    for (size_t k = 1; k <= 64; k++) {
      run_split(&loop, pool, inputs[in].buf, inputs[in].len, k, 1 << 16, &c);
      ASSERT_EQ(c.status, 0);
      ASSERT_STR_EQ(c.log, want);
    }
  }
  /* A pipe smaller than the archive: 300-byte pushes into 512 bytes. */
  run_split(&loop, pool, plain, plen, 300, 512, &c);
  ASSERT_EQ(c.status, 0);
  ASSERT_STR_EQ(c.log, want);
  ASSERT_GT(c.waits, 0);

  /* Garbage ends the worker with NOX_EARCHIVE; the loop side sees it. */
  run_split(&loop, pool, "this is not an archive at all, not even close", 45, 7,
            1 << 16, &c);
  ASSERT_EQ(c.status, NOX_EARCHIVE);

  nox__pool_free(pool);
  nox__buf_reset(&gz);
  free(plain);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
