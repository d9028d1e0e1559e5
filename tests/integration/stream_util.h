/*
 * Helpers of the streaming-transfer tests: scratch directories, tree
 * snapshots to compare round trips and to prove nothing was written
 * outside a destination, and a transfer record filled by the callbacks.
 */
#ifndef NOX_TEST_STREAM_UTIL_H
#define NOX_TEST_STREAM_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "http_common.h"

/* A fresh directory under $TMPDIR or /tmp (malloc'd path). */
char *st_mkdtemp(const char *tag);
/* rm -rf path (no symlink is followed). */
void st_rmtree(const char *path);
/* Writes len bytes to root/rel, making parents; mode applied after. */
void st_write(const char *root, const char *rel, const void *data, size_t len,
              unsigned mode);
/*
 * A sorted listing of the tree under root, one line per entry: path, type,
 * permission bits, size, a hash of the content (files) or the link target.
 * skip (may be NULL) names a top-level entry to leave out. Caller frees.
 */
char *st_snapshot(const char *root, const char *skip, bool with_mtime);
/* Number of entries under root (not counting root). */
size_t st_count(const char *root);
/* Reads a whole file (malloc'd); *len set. NULL when it cannot be read. */
char *st_read(const char *path, size_t *len);
/* Does path exist (lstat)? */
bool st_exists(const char *path);

/* What one transfer's callbacks saw. */
typedef struct st_xfer {
  ht_t *t;
  nox_req_t *req;
  int calls;
  int status;
  nox_error_t err;
  nox_transfer_report_t rep;
  unsigned progress_calls;
  nox_progress_t last;
  /*
   * Cancel from the first progress report. The library gives one as soon as
   * the transfer moves (the first bytes, or a worker's first wake-up), so the
   * cancel lands mid-transfer on any machine. Never wait for a later report
   * to cancel: they come at most every 100 ms, and a fast machine has moved
   * megabytes by then.
   */
  bool cancel_on_progress;
  bool canceled;
} st_xfer_t;

void st_xfer_init(st_xfer_t *x, ht_t *t);
void st_on_done(nox_req_t *req, int status);
void st_on_progress(nox_req_t *req, const nox_progress_t *p);
/*
 * Downloads src of sandbox id on c into extract_dir dir (with progress) and
 * runs t until nothing is pending; x holds the outcome.
 */
void st_download_dir(ht_t *t, st_xfer_t *x, nox_client_t *c, const char *id,
                     const char *src, const char *dir);
/* Asserts a transfer's status, printing its message if it differs. */
#define ST_EXPECT(x, want)                                                     \
  do {                                                                         \
    if ((x)->status != (want)) {                                               \
      fprintf(stderr, "%s:%d: status %s (\"%s\"), want %s\n", __FILE__,        \
              __LINE__, nox_err_name((x)->status), (x)->err.message,           \
              nox_err_name(want));                                             \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif /* NOX_TEST_STREAM_UTIL_H */
