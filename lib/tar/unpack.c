/*
 * The jobs of streaming transfers, run on a pool worker: packing into the
 * pipe, and unpacking from it (safe extraction into a directory, or entry
 * events for the loop).
 *
 * Extraction goes into a fresh directory beside the destination, renamed
 * onto it only when the whole body arrived and unpacked, so a failed or
 * canceled download never leaves a partial tree that looks complete.
 * Members the policy refuses are skipped and counted, not fatal; passing a
 * limit is fatal, checked before the bytes that would pass it are written.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr, strndup, nftw */
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "tar/stream.h"
#include "tar/tar.h"

#define UNPACK_BLOCK ((size_t)64 * 1024)
/* Attempts at a member that a concurrent extraction keeps racing. */
#define HEADER_TRIES 32
/* The expansion ratio is checked once this much was unpacked. */
#define RATIO_FLOOR ((uint64_t)1 << 20)

#define EXTRACT_FLAGS                                                          \
  (ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |                               \
   ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS)
/*
 * Into a shared destination (an upload, in place): SAFE_WRITES writes a file
 * to a temporary name and renames it over an existing one, never unlinking
 * first. Two uploads into the same destination otherwise race (one unlinks
 * what the other just created, and the O_EXCL create or the unlink fails).
 * A download's private temporary directory has no such race and skips the
 * extra create and rename per file.
 */
#define EXTRACT_FLAGS_SHARED (EXTRACT_FLAGS | ARCHIVE_EXTRACT_SAFE_WRITES)

typedef struct {
  nox__stream_t *s;
  char *block;
  char *msg;
  size_t msglen;
  uint64_t max_entries, max_bytes, max_entry_bytes, max_ratio;
  uint64_t nentries, total;
  struct archive *in, *out;
  nox__tar_tap_t tap; /* in reads the decompressed stream through it */
  /*
   * The disk writer without SAFE_WRITES, made on first need: libarchive
   * 3.6 names the temporary file "NAME.XXXXXX", too long when NAME is
   * within 7 bytes of NAME_MAX, so such a file is replaced in place.
   */
  struct archive *plain;
  struct archive *cur; /* the writer of the current member */
  nox__tar_dest_t dest;
  int fd; /* the packed temporary file, or -1: read the pipe */
} unpack_t;

static bool aborted(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  bool a = s->aborted;
  uv_mutex_unlock(&s->mu);
  return a;
}

static int fd_sink(void *data, const void *buf, size_t len) {
  unpack_t *u = data;
  const char *p = buf;
  if (aborted(u->s))
    return NOX_ECANCELED;
  while (len > 0) {
    ssize_t n = write(u->fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      nox__tar_set_error(u->msg, u->msglen, "cannot write a temporary file: %s",
                         strerror(errno));
      return NOX_EIO;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* File content packed into the temporary file, for the progress report. */
static void count_file_data(void *data, size_t n) {
  nox__stream_count_data(((unpack_t *)data)->s, n);
}

/* Packs the job's source into an unlinked temporary file, for reading. */
static int pack_to_file(unpack_t *u) {
  nox__stream_t *s = u->s;
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof(path), "%s/.noxpackXXXXXX",
           tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
  u->fd = mkostemp(path, O_CLOEXEC);
  if (u->fd < 0) {
    nox__tar_set_error(u->msg, u->msglen, "cannot make a temporary file: %s",
                       strerror(errno));
    return NOX_EIO;
  }
  unlink(path);
  /*
   * The file never leaves the machine: compressing it would only cost (and
   * would put the expansion-ratio limit, a guard against remote archives,
   * on data read from this host's disk). Its size is the transfer's bytes.
   */
  int r =
      s->pack_files
          ? nox__tar_pack_files_to(s->files, s->nfiles, false, fd_sink, NULL,
                                   count_file_data, u, u->msg, u->msglen)
          : nox__tar_pack_filtered(s->pack_src, s->include, s->exclude, false,
                                   fd_sink, NULL, count_file_data, u, u->msg,
                                   u->msglen);
  off_t size = r == 0 ? lseek(u->fd, 0, SEEK_CUR) : -1;
  if (r == 0 && (size < 0 || lseek(u->fd, 0, SEEK_SET) != 0))
    r = NOX_EIO;
  if (r == 0) {
    uv_mutex_lock(&s->mu);
    s->packed = (uint64_t)size;
    uv_mutex_unlock(&s->mu);
  }
  /* An upload's source is the caller's: missing is an I/O error there. */
  return r == NOX_ENOTFOUND && s->in_place ? NOX_EIO : r;
}

static void count_entry(void *data) {
  nox__stream_count(data, NULL);
}

static void count_data(void *data, size_t n) {
  nox__stream_count_data(data, n);
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf) {
  unpack_t *u = ud;
  ptrdiff_t n;
  if (u->fd >= 0) {
    do
      n = aborted(u->s) ? -1 : read(u->fd, u->block, UNPACK_BLOCK);
    while (n < 0 && errno == EINTR && !aborted(u->s));
    if (n > 0) {
      uv_mutex_lock(&u->s->mu);
      u->s->consumed += (uint64_t)n;
      uv_mutex_unlock(&u->s->mu);
    }
  } else {
    n = nox__stream_read(u->s, u->block, UNPACK_BLOCK);
  }
  if (n < 0) {
    archive_set_error(a, ECANCELED, "transfer stopped");
    return -1;
  }
  *buf = u->block;
  return (la_ssize_t)n;
}

static int read_error(unpack_t *u, const char *what) {
  if (aborted(u->s))
    return NOX_ECANCELED;
  nox__tar_set_error(u->msg, u->msglen, "%s: %s", what,
                     archive_error_string(u->in));
  return archive_errno(u->in) == ENOMEM ? NOX_ENOMEM : NOX_EARCHIVE;
}

/* Accounts for len more unpacked bytes of name; NOX_ETOOBIG past a limit. */
static int account(unpack_t *u, const char *name, uint64_t entry_bytes,
                   size_t len) {
  if (entry_bytes + len > u->max_entry_bytes) {
    nox__tar_set_error(u->msg, u->msglen,
                       "\"%s\" is larger than the per-entry limit of %llu "
                       "bytes",
                       name, (unsigned long long)u->max_entry_bytes);
    return NOX_ETOOBIG;
  }
  if (u->total + len > u->max_bytes) {
    nox__tar_set_error(u->msg, u->msglen,
                       "archive unpacks to more than %llu bytes (at \"%s\")",
                       (unsigned long long)u->max_bytes, name);
    return NOX_ETOOBIG;
  }
  uint64_t packed = u->s->consumed ? u->s->consumed : 1;
  if (u->total + len > RATIO_FLOOR &&
      (u->total + len) / packed >= u->max_ratio) {
    nox__tar_set_error(u->msg, u->msglen,
                       "archive expands more than %llu times (at \"%s\")",
                       (unsigned long long)u->max_ratio, name);
    return NOX_ETOOBIG;
  }
  u->total += len;
  return 0;
}

static int entry_type(mode_t t, bool hardlink) {
  if (hardlink)
    return NOX_ENTRY_HARDLINK;
  switch (t) {
  case AE_IFREG:
    return NOX_ENTRY_FILE;
  case AE_IFDIR:
    return NOX_ENTRY_DIR;
  case AE_IFLNK:
    return NOX_ENTRY_SYMLINK;
  default:
    return NOX_ENTRY_OTHER;
  }
}

/* Copies the current member's data to the disk writer or to events. */
static int copy_data(unpack_t *u, const nox_entry_t *ent) {
  const void *buf;
  size_t len;
  la_int64_t off;
  uint64_t got = 0;
  for (;;) {
    int r = archive_read_data_block(u->in, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      return 0;
    if (r < ARCHIVE_WARN)
      return read_error(u, "bad archive data");
    if ((r = account(u, ent->path, got, len)) != 0)
      return r;
    got += len;
    if (u->out != NULL) {
      if (archive_write_data_block(u->cur, buf, len, off) < ARCHIVE_WARN) {
        nox__tar_set_error(u->msg, u->msglen, "cannot write \"%s\": %s",
                           ent->path, archive_error_string(u->cur));
        return NOX_EIO;
      }
    } else if (len > 0 &&
               (r = nox__stream_post(u->s, ent, false, buf, len)) != 0) {
      return r;
    }
  }
}

/*
 * Writes a member's header, as archive_write_header() does. Another upload
 * extracting into the same directory can remove or create the name between
 * libarchive's checks and its own unlink or create (ENOENT, EEXIST): that
 * lost race is tried again, a bounded number of times.
 */
static int write_header(unpack_t *u, struct archive_entry *e) {
  /* A failed header sets the entry's size to 0: put it back for a retry. */
  bool sized = archive_entry_size_is_set(e);
  la_int64_t size = archive_entry_size(e);
  int r = ARCHIVE_FAILED;
  u->cur = u->out;
  for (int i = 0; i < HEADER_TRIES; i++) {
    if (sized)
      archive_entry_set_size(e, size);
    r = archive_write_header(u->cur, e);
    if (r >= ARCHIVE_WARN || r == ARCHIVE_FATAL)
      return r;
    int err = archive_errno(u->cur);
    if (err == ENAMETOOLONG && u->cur == u->out && u->s->in_place &&
        archive_entry_filetype(e) == AE_IFREG) {
      if (u->plain == NULL) {
        if ((u->plain = archive_write_disk_new()) == NULL)
          return r;
        archive_write_disk_set_options(u->plain, EXTRACT_FLAGS);
      }
      u->cur = u->plain;
    } else if (err != ENOENT && err != EEXIST) {
      return r;
    }
  }
  return r;
}

/* A member the policy refuses: counted, or the end of an upload. */
static int refuse(unpack_t *u, const char *name, const char *why) {
  /*
   * An upload's extraction (in place) fails on the first refusal: its only
   * report to a remote client is the status and message.
   */
  if (u->s->in_place) {
    nox__tar_set_error(u->msg, u->msglen, "%s", why);
    return NOX_EARCHIVE;
  }
  nox__stream_count(u->s, name);
  return 0;
}

/* bad_name: why the member's raw headers refuse it, or NULL. */
static int one_entry(unpack_t *u, struct archive_entry *e, char *name,
                     const char *bad_name) {
  nox_entry_t ent;
  int r;
  ent.path = name;
  ent.type =
      entry_type(archive_entry_filetype(e), archive_entry_hardlink(e) != NULL);
  ent.mode = archive_entry_perm(e);
  ent.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
  ent.mtime = archive_entry_mtime(e);
  ent.link = archive_entry_hardlink(e) ? archive_entry_hardlink(e)
                                       : archive_entry_symlink(e);
  if (ent.size > 0 && (uint64_t)ent.size > u->max_entry_bytes) {
    nox__tar_set_error(u->msg, u->msglen,
                       "\"%s\" declares %lld bytes, more than the per-entry "
                       "limit of %llu",
                       name, (long long)ent.size,
                       (unsigned long long)u->max_entry_bytes);
    return NOX_ETOOBIG;
  }
  if (bad_name != NULL) {
    char why[256];
    nox__tar_set_error(why, sizeof(why), "refused \"%s\": %s", name,
                       bad_name);
    return refuse(u, name, why);
  }
  if (u->out == NULL) {
    r = nox__stream_post(u->s, &ent, true, NULL, 0);
    if (r == 0 && ent.type == NOX_ENTRY_FILE)
      r = copy_data(u, &ent);
    if (r == 0)
      nox__stream_count(u->s, NULL);
    return r;
  }

  char why[256] = "";
  u->dest.errmsg = why;
  u->dest.errlen = sizeof(why);
  r = nox__tar_prepare_entry(&u->dest, e);
  if (r == 1)
    return 0;
  if (r == NOX_EARCHIVE)
    return refuse(u, name, why);
  if (r != 0)
    return r;
  /*
   * An archive from a sandbox must not plant a setuid or setgid file or
   * directory on the host (nor an upload in the sandbox's tree, which the
   * host owns). The bits go before the disk writer sees the mode: it keeps
   * a directory's mode for the fixups it applies at archive_write_close(),
   * so that chmod() is made from the stripped mode too.
   */
  mode_t perm = archive_entry_perm(e);
  bool stripped = (perm & (S_ISUID | S_ISGID)) != 0;
  if (stripped)
    archive_entry_set_perm(e, perm & ~(mode_t)(S_ISUID | S_ISGID));
  r = write_header(u, e);
  if (r < ARCHIVE_WARN) {
    /* The disk writer's own refusals (a symlink on the way) are policy. */
    if (r == ARCHIVE_FATAL) {
      nox__tar_set_error(u->msg, u->msglen, "cannot write \"%s\": %s", name,
                         archive_error_string(u->cur));
      return NOX_EIO;
    }
    if (u->s->in_place) {
      nox__tar_set_error(u->msg, u->msglen, "refused \"%s\": %s", name,
                         archive_error_string(u->cur));
      return NOX_EARCHIVE;
    }
    nox__stream_count(u->s, name);
    return 0;
  }
  if (ent.type == NOX_ENTRY_FILE && (r = copy_data(u, &ent)) != 0)
    return r;
  if (archive_write_finish_entry(u->cur) < ARCHIVE_WARN) {
    nox__tar_set_error(u->msg, u->msglen, "cannot finish \"%s\": %s", name,
                       archive_error_string(u->cur));
    return NOX_EIO;
  }
  if (stripped)
    nox__stream_count_stripped(u->s);
  else
    nox__stream_count(u->s, NULL);
  return 0;
}

/* Reads the rest of the body (gzip trailer, padding) until it has ended. */
static int drain(nox__stream_t *s, char *block) {
  ptrdiff_t n;
  while ((n = nox__stream_read(s, block, UNPACK_BLOCK)) > 0)
    ;
  return n < 0 ? NOX_ECANCELED : 0;
}

static int unpack_all(unpack_t *u) {
  struct archive_entry *e;
  char *name = NULL;
  const char *bad_name;
  int r;

  for (bool first = true;; first = false) {
    /*
     * The rest of the previous member is skipped before the tap marks
     * where the next header starts, so the tap never keeps its data.
     */
    if (!first && archive_read_data_skip(u->in) < ARCHIVE_WARN) {
      r = read_error(u, "bad archive data");
      break;
    }
    nox__tar_tap_mark(&u->tap, u->in);
    r = archive_read_next_header(u->in, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      r = read_error(u, "bad archive");
      break;
    }
    if (++u->nentries > u->max_entries) {
      nox__tar_set_error(u->msg, u->msglen,
                         "archive has more than %llu entries",
                         (unsigned long long)u->max_entries);
      r = NOX_ETOOBIG;
      break;
    }
    if ((r = nox__tar_tap_check(&u->tap, u->in, &bad_name)) != 0)
      break;
    free(name);
    name = strdup(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (name == NULL) {
      r = NOX_ENOMEM;
      break;
    }
    if ((r = one_entry(u, e, name, bad_name)) != 0)
      break;
  }
  free(name);
  if (r == ARCHIVE_EOF)
    r = 0;
  if (r == 0 && u->out != NULL && archive_write_close(u->out) < ARCHIVE_WARN) {
    nox__tar_set_error(u->msg, u->msglen, "cannot finish extraction: %s",
                       archive_error_string(u->out));
    r = NOX_EIO;
  }
  if (r == 0 && u->plain != NULL &&
      archive_write_close(u->plain) < ARCHIVE_WARN) {
    nox__tar_set_error(u->msg, u->msglen, "cannot finish extraction: %s",
                       archive_error_string(u->plain));
    r = NOX_EIO;
  }
  return r == 0 && u->fd < 0 ? drain(u->s, u->block) : r;
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

/* Removes a tree without following symlinks. */
static void remove_tree(const char *path) {
  nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Makes the temporary directory beside dest, in its real parent (the disk
 * writer's symlink checks need a path without symlinks). Fills tmp and
 * final.
 */
static int make_temp(const char *dest, char **tmp, char **final, char *msg,
                     size_t msglen) {
  size_t len = strlen(dest);
  while (len > 1 && dest[len - 1] == '/')
    len--;
  const char *slash = memrchr(dest, '/', len);
  char *parent = slash == NULL   ? strdup(".")
                 : slash == dest ? strdup("/")
                                 : strndup(dest, (size_t)(slash - dest));
  const char *base = slash ? slash + 1 : dest;
  size_t blen = len - (size_t)(base - dest);
  char real[PATH_MAX];
  int r = 0;

  if (parent == NULL)
    return NOX_ENOMEM;
  if (blen == 0 || (blen == 1 && base[0] == '.') ||
      (blen == 2 && base[0] == '.' && base[1] == '.')) {
    nox__tar_set_error(msg, msglen, "bad extract_dir \"%s\"", dest);
    r = NOX_EINVAL;
  } else if (realpath(parent, real) == NULL) {
    nox__tar_set_error(msg, msglen, "cannot resolve \"%s\": %s", parent,
                       strerror(errno));
    r = NOX_EIO;
  }
  free(parent);
  if (r != 0)
    return r;
  size_t rlen = strcmp(real, "/") == 0 ? 0 : strlen(real);
  *final = malloc(rlen + 1 + blen + 1);
  *tmp = malloc(rlen + 2 + blen + 16);
  if (*final == NULL || *tmp == NULL)
    return NOX_ENOMEM;
  snprintf(*final, rlen + 1 + blen + 1, "%.*s/%.*s", (int)rlen, real, (int)blen,
           base);
  snprintf(*tmp, rlen + 2 + blen + 16, "%.*s/.%.*s.noxXXXXXX", (int)rlen, real,
           (int)blen, base);
  if (mkdtemp(*tmp) == NULL) {
    nox__tar_set_error(msg, msglen,
                       "cannot create a directory beside \"%s\": %s", dest,
                       strerror(errno));
    free(*tmp);
    *tmp = NULL;
    return NOX_EIO;
  }
  return 0;
}

/* Moves the finished tree onto dest, which may be missing or empty. */
static int publish(const char *tmp, const char *final, char *msg,
                   size_t msglen) {
  struct stat st;
  chmod(tmp, 0755);
  if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode) && rmdir(final) != 0) {
    nox__tar_set_error(msg, msglen, "\"%s\" exists and is not empty", final);
    return NOX_EIO;
  }
  if (rename(tmp, final) != 0) {
    nox__tar_set_error(msg, msglen, "cannot rename onto \"%s\": %s", final,
                       strerror(errno));
    return NOX_EIO;
  }
  return 0;
}

static int run_unpack(nox__stream_t *s, char *msg, size_t msglen) {
  const nox_extract_limits_t *l = &s->limits;
  unpack_t u;
  char *tmp = NULL, *final = NULL;
  int r;

  memset(&u, 0, sizeof(u));
  u.fd = -1;
  u.s = s;
  u.msg = msg;
  u.msglen = msglen;
  u.max_entries = l->max_entries ? l->max_entries : 1000000;
  u.max_bytes = l->max_bytes ? l->max_bytes : (uint64_t)64 << 30;
  u.max_entry_bytes =
      l->max_entry_bytes ? l->max_entry_bytes : (uint64_t)16 << 30;
  u.max_ratio = l->max_ratio ? l->max_ratio : 1000;
  u.block = malloc(UNPACK_BLOCK);
  u.in = archive_read_new();
  if (u.block == NULL || u.in == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  if (s->pack_files || s->pack_src != NULL) {
    r = pack_to_file(&u);
    if (r != 0)
      goto done;
  }
  if (s->kind == NOX__STREAM_EXTRACT && s->in_place) {
    u.dest.dir = s->dir;
    u.dest.dirlen = strlen(s->dir);
    u.out = archive_write_disk_new();
    if (u.out == NULL) {
      r = NOX_ENOMEM;
      goto done;
    }
    archive_write_disk_set_options(u.out, EXTRACT_FLAGS_SHARED);
  } else if (s->kind == NOX__STREAM_EXTRACT) {
    struct stat st;
    if (lstat(s->dir, &st) == 0 && (!S_ISDIR(st.st_mode) || st.st_nlink > 2)) {
      nox__tar_set_error(msg, msglen,
                         "extract_dir \"%s\" exists and is not an empty "
                         "directory",
                         s->dir);
      r = NOX_EIO;
      goto done;
    }
    r = make_temp(s->dir, &tmp, &final, msg, msglen);
    if (r != 0)
      goto done;
    u.dest.dir = tmp;
    u.dest.dirlen = strlen(tmp);
    u.out = archive_write_disk_new();
    if (u.out == NULL) {
      r = NOX_ENOMEM;
      goto done;
    }
    archive_write_disk_set_options(u.out, EXTRACT_FLAGS);
  }
  /*
   * Any compression (undone by the tap's reader), tar formats only (mtree
   * could name host files).
   */
  r = nox__tar_tap_open(&u.tap, read_cb, &u, msg, msglen);
  if (r != 0) {
    if (aborted(s))
      r = NOX_ECANCELED;
    goto done;
  }
  archive_read_support_format_tar(u.in);
  archive_read_support_format_gnutar(u.in);
  archive_read_support_format_empty(u.in);
  if (archive_read_open(u.in, &u.tap, NULL, nox__tar_tap_read, NULL) !=
      ARCHIVE_OK) {
    r = read_error(&u, "not a readable archive");
    goto done;
  }
  r = unpack_all(&u);
  if (r == 0 && tmp != NULL) {
    r = publish(tmp, final, msg, msglen);
    if (r == 0) {
      free(tmp);
      tmp = NULL;
    }
  }

done:
  if (u.fd >= 0)
    close(u.fd);
  if (u.in != NULL)
    archive_read_free(u.in);
  nox__tar_tap_free(&u.tap);
  if (u.out != NULL)
    archive_write_free(u.out);
  if (u.plain != NULL)
    archive_write_free(u.plain);
  if (tmp != NULL)
    remove_tree(tmp);
  free(tmp);
  free(final);
  free(u.dest.path);
  free(u.block);
  return r;
}

int nox__stream_run(nox__stream_t *s, char *msg, size_t msglen) {
  switch (s->kind) {
  case NOX__STREAM_PACK_FILES:
    return nox__tar_pack_files_to(s->files, s->nfiles, true, nox__stream_write,
                                  count_entry, count_data, s, msg, msglen);
  case NOX__STREAM_PACK_DIR: {
    int r =
        nox__tar_pack_filtered(s->dir, s->include, s->exclude, true,
                               nox__stream_write, count_entry, count_data, s,
                               msg, msglen);
    /* A missing local directory is an I/O error, not a missing sandbox. */
    return r == NOX_ENOTFOUND ? NOX_EIO : r;
  }
  default:
    return run_unpack(s, msg, msglen);
  }
}
