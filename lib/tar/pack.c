/*
 * The tar.gz writer and the packing of in-memory files (uploads given as
 * nox_file_t arrays). The archive goes to a chunk callback; the streaming
 * issue puts a bounded buffer behind it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>

#include "tar/tar.h"

/* How much of a file's data goes to the writer (and is counted) at once. */
#define PACK_SLICE ((size_t)64 * 1024)

static la_ssize_t writer_write_cb(struct archive *a, void *data,
                                  const void *buf, size_t len) {
  nox__tar_writer_t *w = data;
  /* Once the sink failed, it is not called again (e.g. by a late close). */
  int r = w->err != 0 ? w->err : w->cb(w->data, buf, len);

  if (r != 0) {
    w->err = r;
    archive_set_error(a, r == NOX_ENOMEM ? ENOMEM : EIO, "%s", nox_strerror(r));
    return -1;
  }
  return (la_ssize_t)len;
}

int nox__tar_path_is_safe(const char *path) {
  const char *p = path;
  size_t n;

  if (path == NULL || *path == '\0' || *path == '/')
    return 0;
  for (;;) {
    n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return 0;
    if (p[n] == '\0')
      break;
    p += n + 1;
  }
  /* The last component names the file: it can be neither empty nor ".". */
  return !(n == 0 || (n == 1 && p[0] == '.'));
}

void nox__tar_set_error(char *errmsg, size_t errlen, const char *fmt, ...) {
  va_list ap;

  if (errmsg != NULL && errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(errmsg, errlen, fmt, ap);
    va_end(ap);
  }
}

int nox__tar_writer_open(nox__tar_writer_t *w, bool gzip, nox__tar_chunk_cb cb,
                         void *data) {
  memset(w, 0, sizeof(*w));
  w->cb = cb;
  w->data = data;
  w->a = archive_write_new();
  if (w->a == NULL)
    return NOX_ENOMEM;
  /*
   * pax-restricted writes plain ustar headers unless a name, size or time
   * needs pax extensions, so every tar reader understands the common case.
   * The last block is not padded: gzip output needs no tape blocking.
   */
  if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
      (gzip && archive_write_add_filter_gzip(w->a) != ARCHIVE_OK) ||
      archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
      archive_write_open(w->a, w, NULL, writer_write_cb, NULL) != ARCHIVE_OK) {
    archive_write_free(w->a);
    w->a = NULL;
    return NOX_EARCHIVE;
  }
  return 0;
}

int nox__tar_writer_error(const nox__tar_writer_t *w) {
  if (w->err != 0)
    return w->err;
  return archive_errno(w->a) == ENOMEM ? NOX_ENOMEM : NOX_EARCHIVE;
}

int nox__tar_writer_close(nox__tar_writer_t *w) {
  return archive_write_close(w->a) == ARCHIVE_OK ? 0 : nox__tar_writer_error(w);
}

void nox__tar_writer_free(nox__tar_writer_t *w) {
  if (w->a != NULL) {
    /*
     * libarchive 3.6 frees its output buffer only when the output is
     * closed, and archive_write_free() skips the close once a write has
     * failed: close first, whatever state the writer is in. A writer given
     * up on sends nothing more (no trailer that would make a cut archive
     * look whole); after a good close this is a no-op.
     */
    if (w->err == 0)
      w->err = NOX_ECANCELED;
    archive_write_close(w->a);
    archive_write_free(w->a);
  }
  w->a = NULL;
}

int nox__tar_pack_files_to(const nox_file_t *files, size_t n, bool gzip,
                           nox__tar_chunk_cb cb, void (*entry_cb)(void *data),
                           void (*data_cb)(void *data, size_t n), void *data,
                           char *errmsg, size_t errlen) {
  nox__tar_writer_t w;
  struct archive_entry *e = NULL;
  time_t now = time(NULL);
  size_t i;
  int r;

  r = nox__tar_writer_open(&w, gzip, cb, data);
  if (r != 0) {
    nox__tar_set_error(errmsg, errlen, "cannot start a tar.gz writer");
    return r;
  }
  e = archive_entry_new();
  if (e == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  for (i = 0; i < n; i++) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, files[i].path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, files[i].mode ? (files[i].mode & 07777) : 0644);
    archive_entry_set_size(e, (la_int64_t)files[i].len);
    archive_entry_set_mtime(e, now, 0);
    bool ok = archive_write_header(w.a, e) >= ARCHIVE_WARN;
    /*
     * In slices, each counted once written: a write blocks while the
     * stream's pipe is full, so one call for a large file would report
     * nothing until the file had gone.
     */
    const char *p = files[i].data;
    for (size_t off = 0; ok && off < files[i].len;) {
      size_t len = files[i].len - off;
      if (len > PACK_SLICE)
        len = PACK_SLICE;
      ok = archive_write_data(w.a, p + off, len) == (la_ssize_t)len;
      if (ok && data_cb != NULL)
        data_cb(data, len);
      off += len;
    }
    if (!ok) {
      nox__tar_set_error(errmsg, errlen, "cannot pack \"%s\": %s",
                         files[i].path, archive_error_string(w.a));
      r = nox__tar_writer_error(&w);
      goto done;
    }
    if (entry_cb != NULL)
      entry_cb(data);
  }
  r = nox__tar_writer_close(&w);
  if (r != 0)
    nox__tar_set_error(errmsg, errlen, "cannot finish the archive: %s",
                       archive_error_string(w.a));

done:
  archive_entry_free(e);
  nox__tar_writer_free(&w);
  return r;
}
