/*
 * Packing a file or directory tree from disk into a tar.gz. The walk is our
 * own (archive_read_disk visits entries in readdir order, and downloads of
 * the same tree should give the same member order); libarchive fills each
 * entry from its stat and writes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "tar/tar.h"

#define PACK_READ_CHUNK ((size_t)64 * 1024)

typedef struct {
  nox__tar_writer_t w;
  struct archive *disk; /* for archive_read_disk_entry_from_file */
  struct archive_entry *e;
  nox__buf_t host; /* the host path being visited */
  size_t base;     /* offset of the member name in host.data */
  char *chunk;
  char link[PATH_MAX]; /* the target of a symlink being packed */
  char *errmsg;
  size_t errlen;
  char *const *include, *const *exclude;
  void (*entry_cb)(void *data);
  void (*data_cb)(void *data, size_t n);
  void *data;
} pack_t;

static int matches(char *const *pats, const char *name) {
  for (; *pats != NULL; pats++)
    if (fnmatch(*pats, name, 0) == 0)
      return 1;
  return 0;
}

/* Is the member wanted? Directories are walked whether or not they are. */
static int wanted(const pack_t *p, const char *name) {
  if (p->include != NULL && !matches(p->include, name))
    return 0;
  return p->exclude == NULL || !matches(p->exclude, name);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* The names in dir, sorted, without "." and "..". */
static int list_dir(pack_t *p, int fd, char ***out, size_t *nout) {
  DIR *d = fdopendir(fd);
  struct dirent *de;
  char **names = NULL, **tmp;
  size_t n = 0, cap = 0;

  if (d == NULL) {
    close(fd);
    return NOX_EIO;
  }
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      tmp = realloc(names, cap * sizeof(*names));
      if (tmp == NULL)
        goto nomem;
      names = tmp;
    }
    names[n] = strdup(de->d_name);
    if (names[n] == NULL)
      goto nomem;
    n++;
  }
  if (errno != 0) {
    nox__tar_set_error(p->errmsg, p->errlen, "cannot read \"%s\": %s",
                       p->host.data, strerror(errno));
    closedir(d);
    free_names(names, n);
    return NOX_EIO;
  }
  closedir(d);
  if (n > 1)
    qsort(names, n, sizeof(*names), cmp_names);
  *out = names;
  *nout = n;
  return 0;

nomem:
  closedir(d);
  free_names(names, n);
  return NOX_ENOMEM;
}

/*
 * Writes the size bytes the header declared. A file written to while it is
 * packed gives no more than that, and one that shrank is padded with zeros
 * by the tar writer, as tar does.
 */
static int write_file_data(pack_t *p, int fd, int64_t size) {
  ssize_t n;

  while (size > 0) {
    n = read(fd, p->chunk,
             size < (int64_t)PACK_READ_CHUNK ? (size_t)size : PACK_READ_CHUNK);
    if (n == 0)
      return 0;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      nox__tar_set_error(p->errmsg, p->errlen, "cannot read \"%s\": %s",
                         p->host.data, strerror(errno));
      return NOX_EIO;
    }
    if (archive_write_data(p->w.a, p->chunk, (size_t)n) != n)
      return nox__tar_writer_error(&p->w);
    if (p->data_cb != NULL)
      p->data_cb(p->data, (size_t)n);
    size -= n;
  }
  return 0;
}

/*
 * Reads the symlink p->host.data into p->link. 1 when it is gone or no longer
 * a symlink below the top (see open_entry).
 */
static int read_link(pack_t *p, int root) {
  ssize_t n = readlink(p->host.data, p->link, sizeof(p->link));
  int err = errno;

  if (n < 0 && !root && (err == ENOENT || err == EINVAL))
    return 1;
  if (n < 0 || (size_t)n == sizeof(p->link)) {
    nox__tar_set_error(p->errmsg, p->errlen, "cannot read \"%s\": %s",
                       p->host.data, n < 0 ? strerror(err) : "link too long");
    return NOX_EIO;
  }
  p->link[n] = '\0';
  return 0;
}

/*
 * Describes p->host.data in *st and opens it into *fd (-1 for a symlink,
 * whose target goes to p->link). 1 for an entry that is left out: one that
 * is not a file, directory or symlink, or, below the top, one that is gone or
 * changed type by the time it is visited, removed or renamed over while the
 * tree was walked (a concurrent upload replaces files through temporary
 * names), as tar does. Each step works on what the previous one found, so a
 * name that changes in between is never described by one file and read from
 * another.
 */
static int open_entry(pack_t *p, int root, struct stat *st, int *fd) {
  mode_t type;
  int err;

  *fd = -1;
  if (lstat(p->host.data, st) != 0) {
    err = errno;
    if (err == ENOENT && !root)
      return 1;
    nox__tar_set_error(p->errmsg, p->errlen, "cannot stat \"%s\": %s",
                       p->host.data, strerror(err));
    return err == ENOENT ? NOX_ENOTFOUND : NOX_EIO;
  }
  if (S_ISLNK(st->st_mode))
    return read_link(p, root);
  if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
    return 1;
  type = st->st_mode & S_IFMT;
  *fd = open(p->host.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                               (S_ISDIR(st->st_mode) ? O_DIRECTORY : 0));
  if (*fd < 0) {
    err = errno;
    if (!root && (err == ENOENT || err == ELOOP || err == ENOTDIR))
      return 1;
    nox__tar_set_error(p->errmsg, p->errlen, "cannot open \"%s\": %s",
                       p->host.data, strerror(err));
    return NOX_EIO;
  }
  /* Describe what was opened: the name may have been renamed over. */
  if (fstat(*fd, st) != 0 || (st->st_mode & S_IFMT) != type) {
    close(*fd);
    *fd = -1;
    if (!root)
      return 1;
    nox__tar_set_error(p->errmsg, p->errlen, "\"%s\" changed while read",
                       p->host.data);
    return NOX_EIO;
  }
  return 0;
}

/* Writes the member name for what open_entry found: header, then data. */
static int write_entry(pack_t *p, const char *name, int fd,
                       const struct stat *st) {
  archive_entry_clear(p->e);
  archive_entry_copy_pathname(p->e, name);
  if (S_ISLNK(st->st_mode)) {
    /* Not read again by name: the link may have been replaced since. */
    archive_entry_copy_stat(p->e, st);
    archive_entry_copy_symlink(p->e, p->link);
  } else {
    archive_entry_copy_sourcepath(p->e, p->host.data);
    if (archive_read_disk_entry_from_file(p->disk, p->e, fd, st) !=
        ARCHIVE_OK) {
      nox__tar_set_error(p->errmsg, p->errlen, "cannot read \"%s\": %s",
                         p->host.data, archive_error_string(p->disk));
      return NOX_EIO;
    }
  }
  /* Owners mean nothing outside this host. */
  archive_entry_set_uid(p->e, 0);
  archive_entry_set_gid(p->e, 0);
  archive_entry_copy_uname(p->e, NULL);
  archive_entry_copy_gname(p->e, NULL);
  /*
   * ARCHIVE_WARN: a name that is not text in the locale's charset; the pax
   * writer then stores its bytes as they are (hdrcharset=BINARY).
   */
  if (archive_write_header(p->w.a, p->e) < ARCHIVE_WARN) {
    nox__tar_set_error(p->errmsg, p->errlen, "cannot pack \"%s\": %s", name,
                       archive_error_string(p->w.a));
    return nox__tar_writer_error(&p->w);
  }
  if (p->entry_cb != NULL)
    p->entry_cb(p->data);
  if (S_ISREG(st->st_mode))
    return write_file_data(p, fd, archive_entry_size(p->e));
  return 0;
}

static int pack_one(pack_t *p, int root);

/* Packs the entries of the directory open as fd (which it takes). */
static int pack_dir(pack_t *p, int fd, int is_top_dir) {
  char **names = NULL;
  size_t n = 0, i, len = p->host.len;
  int r = list_dir(p, fd, &names, &n);

  for (i = 0; r == 0 && i < n; i++) {
    p->host.len = len;
    if (nox__buf_append(&p->host, "/", 1) != 0 ||
        nox__buf_append(&p->host, names[i], strlen(names[i])) != 0) {
      r = NOX_ENOMEM;
      break;
    }
    if (is_top_dir)
      p->base = len + 1;
    r = pack_one(p, 0);
  }
  p->host.len = len;
  p->host.data[len] = '\0';
  free_names(names, n);
  return r;
}

/* Packs p->host.data, whose member name starts at p->base ("" for root). */
static int pack_one(pack_t *p, int root) {
  const char *name = p->host.data + p->base;
  int is_top_dir = *name == '\0'; /* the directory being packed */
  struct stat st;
  int fd, r;

  r = open_entry(p, root, &st, &fd);
  if (r != 0)
    return r == 1 ? 0 : r;
  if (!is_top_dir && wanted(p, name)) {
    r = write_entry(p, name, fd, &st);
    if (r != 0 || !S_ISDIR(st.st_mode)) {
      if (fd >= 0)
        close(fd);
      return r;
    }
  }
  if (S_ISDIR(st.st_mode))
    return pack_dir(p, fd, is_top_dir); /* takes fd */
  if (fd >= 0)
    close(fd);
  return 0;
}

int nox__tar_pack_filtered(const char *path, char *const *include,
                           char *const *exclude, bool gzip,
                           nox__tar_chunk_cb cb, void (*entry_cb)(void *data),
                           void (*data_cb)(void *data, size_t n), void *data,
                           char *errmsg, size_t errlen) {
  pack_t p;
  struct stat st;
  const char *slash;
  size_t len = strlen(path);
  int r;

  memset(&p, 0, sizeof(p));
  p.errmsg = errmsg;
  p.errlen = errlen;
  p.include = include;
  p.exclude = exclude;
  p.entry_cb = entry_cb;
  p.data_cb = data_cb;
  p.data = data;
  while (len > 1 && path[len - 1] == '/')
    len--;
  if (nox__buf_append(&p.host, path, len) != 0)
    return NOX_ENOMEM;
  if (lstat(p.host.data, &st) != 0) {
    nox__tar_set_error(errmsg, errlen, "cannot stat \"%s\": %s", p.host.data,
                       strerror(errno));
    r = errno == ENOENT || errno == ENOTDIR ? NOX_ENOTFOUND : NOX_EIO;
    nox__buf_reset(&p.host);
    return r;
  }
  /* A directory gives its contents; a file is named by its last component. */
  if (S_ISDIR(st.st_mode)) {
    p.base = p.host.len;
  } else {
    slash = strrchr(p.host.data, '/');
    p.base = slash ? (size_t)(slash - p.host.data) + 1 : 0;
  }

  p.chunk = malloc(PACK_READ_CHUNK);
  p.e = archive_entry_new();
  p.disk = archive_read_disk_new();
  if (p.chunk == NULL || p.e == NULL || p.disk == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  archive_read_disk_set_symlink_physical(p.disk);
  archive_read_disk_set_behavior(
      p.disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                  ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
  r = nox__tar_writer_open(&p.w, gzip, cb, data);
  if (r != 0) {
    nox__tar_set_error(errmsg, errlen, "cannot start a tar.gz writer");
    goto done;
  }
  r = pack_one(&p, 1);
  if (r == 0) {
    r = nox__tar_writer_close(&p.w);
    if (r != 0)
      nox__tar_set_error(errmsg, errlen, "cannot finish the archive: %s",
                         archive_error_string(p.w.a));
  }
  nox__tar_writer_free(&p.w);

done:
  if (p.disk != NULL)
    archive_read_free(p.disk);
  archive_entry_free(p.e);
  free(p.chunk);
  nox__buf_reset(&p.host);
  return r;
}
