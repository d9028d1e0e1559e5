/*
 * Unpacks a downloaded tar(.gz) file into a new directory with libarchive,
 * on libuv's thread pool. This is the fallback of `download --extract` for
 * a library without the streaming extract_dir sink; it keeps the same
 * contract: unpack into a temporary directory beside DIR, refuse absolute
 * paths, "..", links pointing outside and special files, and rename onto
 * DIR only when everything succeeded. Refused entries are skipped and
 * counted.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "noxrc.h"

typedef struct {
  uv_work_t work;
  noxrc_t *rc;
  noxrc_extract_cb cb;
  char *archive;
  char *dir;
  int err;
  uint64_t refused;
  char first_refused[256];
  char msg[512];
} job_t;

/* Whether a relative path stays inside its root: no "..", not absolute. */
static int inside(const char *base, const char *path) {
  char buf[4096];
  char *save = NULL;
  char *tok;
  int depth = 0;

  if (path[0] == '/')
    return 0;
  snprintf(buf, sizeof(buf), "%s%s%s", base, base[0] != '\0' ? "/" : "", path);
  for (tok = strtok_r(buf, "/", &save); tok != NULL;
       tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, "..") == 0)
      depth--;
    else if (strcmp(tok, ".") != 0)
      depth++;
    if (depth < 0)
      return 0;
  }
  return 1;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  return remove(path);
}

static const char *aerr(struct archive *a) {
  const char *s = archive_error_string(a);

  return s != NULL ? s : "archive error";
}

static int copy_data(struct archive *in, struct archive *out) {
  const void *buf;
  size_t len;
  la_int64_t off;
  int r;

  while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
    if (archive_write_data_block(out, buf, len, off) < ARCHIVE_WARN)
      return ARCHIVE_FATAL;
  return r == ARCHIVE_EOF ? ARCHIVE_OK : r;
}

static int unpack(job_t *j, const char *tmp) {
  struct archive *in = archive_read_new();
  struct archive *out = archive_write_disk_new();
  struct archive_entry *e;
  char path[4096];
  int r = ARCHIVE_OK;

  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_gnutar(in);
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME |
                                          ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  if (archive_read_open_filename(in, j->archive, 64 * 1024) != ARCHIVE_OK) {
    snprintf(j->msg, sizeof(j->msg), "%s", aerr(in));
    r = ARCHIVE_FATAL;
  }
  while (r == ARCHIVE_OK &&
         (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e);
    const char *hard = archive_entry_hardlink(e);
    const char *sym = archive_entry_symlink(e);
    mode_t type = archive_entry_filetype(e);
    char parent[4096];

    if (name == NULL) {
      snprintf(j->msg, sizeof(j->msg), "an entry without a name");
      r = ARCHIVE_FATAL;
      break;
    }
    snprintf(parent, sizeof(parent), "%s", name);
    if (!inside("", name) || (hard != NULL && !inside("", hard)) ||
        (sym != NULL && !inside(dirname(parent), sym)) ||
        (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)) {
      /* Skipped, not fatal: the same policy as the library's extract_dir. */
      if (j->refused++ == 0)
        snprintf(j->first_refused, sizeof(j->first_refused), "%s", name);
      continue;
    }
    if (snprintf(path, sizeof(path), "%s/%s", tmp, name) >= (int)sizeof(path)) {
      snprintf(j->msg, sizeof(j->msg), "path too long: %.200s", name);
      r = ARCHIVE_FATAL;
      break;
    }
    archive_entry_set_pathname(e, path);
    if (hard != NULL) {
      if (snprintf(path, sizeof(path), "%s/%s", tmp, hard) >=
          (int)sizeof(path)) {
        snprintf(j->msg, sizeof(j->msg), "path too long: %.200s", hard);
        r = ARCHIVE_FATAL;
        break;
      }
      archive_entry_set_hardlink(e, path);
    }
    /* ARCHIVE_WARN (say, a time not set) is not a failure. */
    r = archive_write_header(out, e);
    if (r == ARCHIVE_WARN)
      r = ARCHIVE_OK;
    if (r == ARCHIVE_OK && archive_entry_size(e) > 0)
      r = copy_data(in, out);
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
      r = archive_write_finish_entry(out);
    if (r == ARCHIVE_WARN)
      r = ARCHIVE_OK;
    if (r != ARCHIVE_OK)
      snprintf(j->msg, sizeof(j->msg), "%s: %s", name,
               archive_error_string(out) != NULL ? aerr(out) : aerr(in));
  }
  if (r == ARCHIVE_EOF)
    r = ARCHIVE_OK;
  else if (j->msg[0] == '\0')
    snprintf(j->msg, sizeof(j->msg), "%s", aerr(in));
  archive_read_free(in);
  archive_write_free(out);
  return r == ARCHIVE_OK ? 0 : -1;
}

static void work(uv_work_t *w) {
  job_t *j = w->data;
  char tmp[4096];

  snprintf(tmp, sizeof(tmp), "%s.partXXXXXX", j->dir);
  if (mkdtemp(tmp) == NULL) {
    j->err = NOX_EIO;
    snprintf(j->msg, sizeof(j->msg),
             "cannot make a directory beside %.256s: %s", j->dir,
             strerror(errno));
    return;
  }
  if (unpack(j, tmp) != 0) {
    j->err = NOX_EARCHIVE;
  } else if (rmdir(j->dir) != 0 && errno != ENOENT) {
    j->err = NOX_EIO;
    snprintf(j->msg, sizeof(j->msg), "%s is not an empty directory: %s", j->dir,
             strerror(errno));
  } else if (rename(tmp, j->dir) != 0) {
    j->err = NOX_EIO;
    snprintf(j->msg, sizeof(j->msg), "cannot rename onto %.256s: %s", j->dir,
             strerror(errno));
  }
  if (j->err != 0)
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void after(uv_work_t *w, int status) {
  job_t *j = w->data;

  j->cb(j->rc, j->err, j->refused, j->err != 0 ? j->msg : j->first_refused);
  free(j->archive);
  free(j->dir);
  free(j);
}

int noxrc_extract_file(noxrc_t *rc, const char *archive, const char *dir,
                       noxrc_extract_cb cb) {
  job_t *j = calloc(1, sizeof(*j));

  if (j == NULL || (j->archive = strdup(archive)) == NULL ||
      (j->dir = strdup(dir)) == NULL) {
    if (j != NULL)
      free(j->archive);
    free(j);
    return NOX_ENOMEM;
  }
  j->rc = rc;
  j->cb = cb;
  j->work.data = j;
  return uv_queue_work(&rc->loop, &j->work, work, after) == 0 ? 0
                                                              : NOX_EINTERNAL;
}
