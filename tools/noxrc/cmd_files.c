/* upload and download: files and directory trees in and out of a sandbox. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "noxrc.h"

static struct {
  const char *dest;
  const char *dir;
  const char *src;
  const char *output;
  const char *extract;
} o;

static const noxrc_argspec_t upload_spec[] = {
    {"dir", ARG_STR, &o.dir, "DIR",
     "upload the tree under DIR (its contents, not DIR itself)"},
    {"dest", ARG_STR, &o.dest, "PATH",
     "where in the sandbox (default /workspace)"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_argspec_t download_spec[] = {
    {"src", ARG_STR, &o.src, "PATH", "what to download (default /workspace)"},
    {"output", ARG_STR, &o.output, "FILE",
     "write the tar.gz to FILE ('-': stdout, the default when it is not a "
     "terminal)"},
    {"extract", ARG_STR, &o.extract, "DIR",
     "unpack into DIR, which must not exist or be empty"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_cmdspec_t upload_cmd = {
    "upload", "ID FILE... | ID --dir DIR [--dest PATH]",
    "Uploads files (a directory argument brings its tree) keeping their "
    "relative\npaths; absolute paths or paths with '..' keep only their "
    "last name. Two files\nthat would land on the same name are an error.",
    upload_spec, 0};
static const noxrc_cmdspec_t download_cmd = {
    "download", "ID [--src PATH] [--output FILE.tar.gz | --extract DIR]",
    "Downloads PATH as a gzip tar, streamed to FILE, or unpacked into DIR.",
    download_spec, 0};

/* ---- upload ---------------------------------------------------------- */

typedef struct {
  char *name; /* path in the archive */
  char *from; /* local path, for messages */
  char *data;
  size_t len;
  unsigned mode;
} upfile_t;

static struct {
  upfile_t *v;
  size_t n;
  size_t cap;
  uint64_t bytes;
  size_t skipped;
  /* Only count files (the library reads --dir itself while it sends). */
  int count_only;
  noxrc_progress_t progress;
} up;

static void upfiles_free(void) {
  size_t i;

  for (i = 0; up.v != NULL && i < up.n; i++) {
    free(up.v[i].name);
    free(up.v[i].from);
    free(up.v[i].data);
  }
  free(up.v);
  memset(&up, 0, sizeof(up));
}

static int read_file(const char *path, char **data, size_t *len) {
  struct stat st;
  size_t got = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0 || (*data = malloc((size_t)st.st_size + 1)) == NULL) {
    close(fd);
    return -1;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, *data + got, (size_t)st.st_size - got);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  *len = got;
  return 0;
}

static int add_file(const char *name, const char *from, const struct stat *st) {
  upfile_t *f;

  if (up.n == up.cap && !up.count_only) {
    size_t cap = up.cap != 0 ? up.cap * 2 : 16;
    upfile_t *v = realloc(up.v, cap * sizeof(*v));

    if (v == NULL)
      return noxrc_usage_error("upload", "out of memory");
    up.v = v;
    up.cap = cap;
  }
  if (up.count_only) {
    up.n++;
    up.bytes += (uint64_t)st->st_size;
    return 0;
  }
  f = &up.v[up.n];
  memset(f, 0, sizeof(*f));
  f->name = strdup(name);
  f->from = strdup(from);
  f->mode = st->st_mode & 07777;
  if (f->name == NULL || f->from == NULL ||
      read_file(from, &f->data, &f->len) != 0) {
    int e = errno;

    free(f->name);
    free(f->from);
    return noxrc_usage_error("upload", "cannot read '%s': %s", from,
                             strerror(e));
  }
  up.n++;
  up.bytes += f->len;
  return 0;
}

/* Adds the regular files under path (a directory) as prefix/... */
static int add_tree(const char *prefix, const char *path) {
  struct dirent **ents;
  int n = scandir(path, &ents, NULL, alphasort);
  int i, err = 0;

  if (n < 0)
    return noxrc_usage_error("upload", "cannot read directory '%s': %s", path,
                             strerror(errno));
  for (i = 0; i < n; i++) {
    const char *d = ents[i]->d_name;
    char from[4096], name[4096];
    struct stat st, lst;

    if (err != 0 || strcmp(d, ".") == 0 || strcmp(d, "..") == 0)
      continue;
    snprintf(from, sizeof(from), "%s/%s", path, d);
    snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "/" : "", d);
    if (lstat(from, &lst) != 0 || stat(from, &st) != 0) {
      noxrc_warn("skipping %s: %s", from, strerror(errno));
      up.skipped++;
    } else if (S_ISDIR(lst.st_mode)) {
      err = add_tree(name, from);
    } else if (S_ISREG(st.st_mode)) {
      err = add_file(name, from, &st);
    } else {
      /* Symlinked directories could loop; devices have no content. */
      noxrc_verbose("skipping %s: not a regular file or directory", from);
      up.skipped++;
    }
  }
  for (i = 0; i < n; i++)
    free(ents[i]);
  free(ents);
  return err;
}

/*
 * The name a FILE argument gets in the archive: its relative path, cleaned
 * of "./" and trailing "/"; for an absolute path or one with "..", its last
 * component.
 */
static void archive_name(const char *arg, char *name, size_t cap) {
  char tmp[4096];
  char *save = NULL, *tok;
  int unsafe = arg[0] == '/';

  name[0] = '\0';
  snprintf(tmp, sizeof(tmp), "%s", arg);
  for (tok = strtok_r(tmp, "/", &save); tok != NULL;
       tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, ".") == 0)
      continue;
    if (strcmp(tok, "..") == 0)
      unsafe = 1;
    if (name[0] != '\0')
      strncat(name, "/", cap - strlen(name) - 1);
    strncat(name, tok, cap - strlen(name) - 1);
  }
  if (unsafe) {
    snprintf(tmp, sizeof(tmp), "%s", arg);
    snprintf(name, cap, "%s", basename(tmp));
  }
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const upfile_t *)a)->name, ((const upfile_t *)b)->name);
}

static int collect(const char *const *files, size_t n) {
  size_t i;
  int err = 0;

  if (o.dir != NULL) {
    struct stat st;

    if (stat(o.dir, &st) != 0 || !S_ISDIR(st.st_mode))
      return noxrc_usage_error("upload", "--dir '%s' is not a directory%s%s",
                               o.dir, errno != 0 ? ": " : "",
                               errno != 0 ? strerror(errno) : "");
    err = add_tree("", o.dir);
  }
  for (i = 0; err == 0 && i < n; i++) {
    char name[4096];
    struct stat st;

    archive_name(files[i], name, sizeof(name));
    if (stat(files[i], &st) != 0)
      return noxrc_usage_error("upload", "cannot read '%s': %s", files[i],
                               strerror(errno));
    if (S_ISDIR(st.st_mode))
      err = add_tree(name, files[i]);
    else if (name[0] == '\0')
      err = noxrc_usage_error("upload", "cannot name '%s' in the archive",
                              files[i]);
    else
      err = add_file(name, files[i], &st);
  }
  if (err != 0 || up.count_only)
    return err;
  qsort(up.v, up.n, sizeof(*up.v), cmp_name);
  for (i = 1; i < up.n; i++)
    if (strcmp(up.v[i - 1].name, up.v[i].name) == 0)
      return noxrc_usage_error("upload",
                               "'%s' and '%s' would both be uploaded as '%s'",
                               up.v[i - 1].from, up.v[i].from, up.v[i].name);
  return 0;
}

static void on_up_progress(nox_req_t *req, const nox_progress_t *p) {
  noxrc_progress_update(&up.progress, p->bytes, p->total);
}

static int upload_from_memory(noxrc_t *rc);

static void on_uploaded(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);
  const char *dest = o.dest != NULL ? o.dest : "/workspace";
  char size[32];
  int code;

  rc->current = NULL;
  noxrc_progress_done(&up.progress);
  if (status == NOX_EUNSUPPORTED && up.count_only && !rc->interrupted) {
    code = upload_from_memory(rc);
    if (code != 0)
      noxrc_finish(rc, code);
    return;
  }
  if (status != 0) {
    upfiles_free();
    noxrc_finish(rc, noxrc_report_error(rc, "upload", req, status));
    return;
  }
  noxrc_format_bytes(size, sizeof(size), (double)up.bytes);
  noxrc_ok("uploaded %zu file%s (%s) to %s:%s", up.n, up.n == 1 ? "" : "s",
           size, rc->session, dest);
  if (noxrc_g.json) {
    noxrc_json_t *j = noxrc_json_begin(1);

    noxrc_json_int(j, "files", (long long)up.n);
    noxrc_json_int(j, "bytes", (long long)up.bytes);
    noxrc_json_int(j, "skipped", (long long)up.skipped);
    noxrc_json_str(j, "dest", dest);
    noxrc_json_end(j);
  }
  upfiles_free();
  noxrc_finish(rc, 0);
}

/* Uploads up.v, the files read into memory. */
static int upload_files(noxrc_t *rc, nox_upload_options_t *uo) {
  nox_file_t *files = calloc(up.n + 1, sizeof(*files));
  size_t i;
  int err;

  if (files == NULL)
    return NOX_ENOMEM;
  for (i = 0; i < up.n; i++) {
    files[i].path = up.v[i].name;
    files[i].data = up.v[i].data;
    files[i].len = up.v[i].len;
    files[i].mode = up.v[i].mode;
    noxrc_verbose("  %s <- %s (%zu bytes)", up.v[i].name, up.v[i].from,
                  up.v[i].len);
  }
  uo->files = files;
  uo->nfiles = up.n;
  err = nox_upload(&rc->current, rc->client, rc->session, uo, on_uploaded, rc);
  free(files);
  return err;
}

/*
 * --dir for a library or backend without the streaming dir source: read
 * the tree into memory and upload the files. Returns 0 when the upload
 * runs, else an exit code (reported).
 */
static int upload_from_memory(noxrc_t *rc) {
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  int err;

  noxrc_verbose("no streaming dir source here; reading %s into memory", o.dir);
  upfiles_free();
  noxrc_progress_init(&up.progress, "upload", 0);
  err = collect(NULL, 0);
  if (err != 0) {
    upfiles_free();
    return err;
  }
  uo.dest = o.dest;
  uo.progress = on_up_progress;
  err = upload_files(rc, &uo);
  if (err != 0) {
    upfiles_free();
    return noxrc_report_error(rc, "upload", NULL, err);
  }
  return 0;
}

int noxrc_cmd_upload(noxrc_t *rc, int argc, char **argv) {
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  noxrc_strv_t pos = {NULL, 0};
  int err = noxrc_args_parse(&upload_cmd, argc, argv, &pos);

  if (err == 0 && pos.n == 0)
    err = noxrc_usage_error("upload", "missing the session ID");
  else if (err == 0 && pos.n == 1 && o.dir == NULL)
    err = noxrc_usage_error("upload", "nothing to upload: give FILEs or --dir");
  else if (err == 0 && pos.n > 1 && o.dir != NULL)
    err = noxrc_usage_error("upload", "give FILEs or --dir, not both");
  else if (err == 0 && pos.v[0][0] == '\0')
    err = noxrc_usage_error("upload", "the session ID is empty");
  /* --dir is only walked here to count it and fail early; it streams. */
  up.count_only = o.dir != NULL;
  if (err == 0)
    err = collect((const char *const *)pos.v + 1, pos.n - 1);
  if (err == 0)
    err = noxrc_connect(rc);
  if (err != 0) {
    noxrc_strv_free(&pos);
    upfiles_free();
    return err;
  }
  rc->session = pos.v[0];
  noxrc_strv_free(&pos);
  uo.dest = o.dest;
  uo.progress = on_up_progress;
  noxrc_progress_init(&up.progress, "upload", 0);
  if (o.dir == NULL) {
    err = upload_files(rc, &uo);
  } else {
    uo.dir = o.dir;
    noxrc_verbose("streaming %s (%zu files)", o.dir, up.n);
    err =
        nox_upload(&rc->current, rc->client, rc->session, &uo, on_uploaded, rc);
    if (err == NOX_EINVAL) {
      err = upload_from_memory(rc);
      return err != 0 ? err : NOXRC_RUNNING;
    }
  }
  if (err != 0) {
    upfiles_free();
    if (err == NOX_EINVAL || err == NOX_EARCHIVE)
      noxrc_fail("upload: cannot pack the files: %s", nox_strerror(err));
    return err == NOX_EINVAL ? NOXRC_EXIT_USAGE
                             : noxrc_report_error(rc, "upload", NULL, err);
  }
  return NOXRC_RUNNING;
}

/* ---- download -------------------------------------------------------- */

static struct {
  int fd;
  int to_stdout;
  char part[4096]; /* FILE.part, or the archive kept for extraction */
  uint64_t bytes;
  uint64_t entries;
  int write_err;
  noxrc_progress_t progress;
} dl = {-1, 0, "", 0, 0, 0, {0}};

static const char *src_path(void) {
  return o.src != NULL ? o.src : "/workspace";
}

static void downloaded_ok(noxrc_t *rc, const char *where) {
  char size[32];

  noxrc_format_bytes(size, sizeof(size), (double)dl.bytes);
  if (!dl.to_stdout)
    noxrc_ok("downloaded %s:%s %s %s (%s)", rc->session, src_path(),
             o.extract != NULL ? "into" : "to", where, size);
  if (noxrc_g.json) {
    noxrc_json_t *j = noxrc_json_begin(1);

    noxrc_json_str(j, "src", src_path());
    if (o.extract != NULL)
      noxrc_json_str(j, "extractDir", o.extract);
    else
      noxrc_json_str(j, "output", where);
    noxrc_json_int(j, "bytes", (long long)dl.bytes);
    noxrc_json_end(j);
  }
  noxrc_finish(rc, 0);
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  /* Synchronous writes: the loop has nothing else to do meanwhile. */
  if (noxrc_write_all(dl.fd, buf, len) != 0) {
    dl.write_err = errno;
    return -1;
  }
  dl.bytes += len;
  noxrc_progress_update(&dl.progress, dl.bytes, 0);
  return 0;
}

static void on_dl_progress(nox_req_t *req, const nox_progress_t *p) {
  dl.bytes = p->bytes;
  dl.entries = p->entries;
  noxrc_progress_update(&dl.progress, p->bytes, p->total);
}

static void on_extracted(noxrc_t *rc, int err, uint64_t refused,
                         const char *msg) {
  unlink(dl.part);
  if (err != 0) {
    noxrc_fail("download: cannot unpack into %s: %s", o.extract, msg);
    noxrc_finish(rc, NOXRC_EXIT_FAILED);
    return;
  }
  if (refused != 0)
    noxrc_warn("skipped %llu unsafe entr%s (absolute, '..', outside links "
               "or special files), the first '%s'",
               (unsigned long long)refused, refused == 1 ? "y" : "ies", msg);
  downloaded_ok(rc, o.extract);
}

static int download_raw(noxrc_t *rc);

static void on_downloaded(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);
  const char *dest = o.output != NULL ? o.output : "-";
  int err;

  rc->current = NULL;
  noxrc_progress_done(&dl.progress);
  if (status == NOX_EUNSUPPORTED && o.extract != NULL && dl.fd < 0 &&
      !rc->interrupted) {
    /* A backend without the extract_dir sink: the archive goes to disk. */
    err = download_raw(rc);
    if (err != 0)
      noxrc_finish(rc, err);
    return;
  }
  if (dl.fd >= 0 && !dl.to_stdout && close(dl.fd) != 0 && status == 0)
    dl.write_err = errno;
  dl.fd = -1;
  if (status == NOX_EUSER && dl.write_err != 0) {
    noxrc_fail("download: cannot write %s: %s", dl.part[0] ? dl.part : "stdout",
               strerror(dl.write_err));
    status = NOX_EIO;
  } else if (status != 0) {
    noxrc_report_error(rc, "download", req, status);
  }
  if (status != 0) {
    if (dl.part[0] != '\0')
      unlink(dl.part);
    noxrc_finish(rc,
                 rc->interrupted ? NOXRC_EXIT_INTERRUPTED : NOXRC_EXIT_FAILED);
    return;
  }
  if (o.extract != NULL && dl.part[0] != '\0') {
    err = noxrc_extract_file(rc, dl.part, o.extract, on_extracted);
    if (err != 0)
      on_extracted(rc, err, 0, nox_strerror(err));
    return;
  }
  if (o.extract != NULL) {
    downloaded_ok(rc, o.extract);
    return;
  }
  if (!dl.to_stdout && rename(dl.part, dest) != 0) {
    noxrc_fail("download: cannot rename %s to %s: %s", dl.part, dest,
               strerror(errno));
    unlink(dl.part);
    noxrc_finish(rc, NOXRC_EXIT_FAILED);
    return;
  }
  downloaded_ok(rc, dest);
}

/* A directory that --extract may fill: absent, or empty. */
static int extract_target_ok(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int empty = 1;

  if (d == NULL)
    return errno == ENOENT;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      empty = 0;
  closedir(d);
  return empty;
}

/* Opens where the raw archive goes: FILE.part, stdout, or a temp file. */
static int open_sink(void) {
  if (o.extract != NULL) {
    snprintf(dl.part, sizeof(dl.part), "%s.noxrc-XXXXXX", o.extract);
    dl.fd = mkostemp(dl.part, O_CLOEXEC);
  } else if (o.output == NULL || strcmp(o.output, "-") == 0) {
    dl.fd = STDOUT_FILENO;
    dl.to_stdout = 1;
    return 0;
  } else {
    snprintf(dl.part, sizeof(dl.part), "%s.part", o.output);
    dl.fd = open(dl.part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (dl.fd < 0) {
    noxrc_fail("download: cannot create %s: %s", dl.part, strerror(errno));
    dl.part[0] = '\0';
    return NOXRC_EXIT_FAILED;
  }
  return 0;
}

/*
 * Starts a download whose raw bytes go to open_sink(): --output, stdout,
 * or a temporary file that --extract unpacks afterwards (a library or
 * backend without extract_dir). Returns 0 or an exit code (reported).
 */
static int download_raw(noxrc_t *rc) {
  nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
  int err = open_sink();

  if (err != 0)
    return err;
  if (o.extract != NULL)
    noxrc_verbose("no streaming extract_dir here; unpacking %s afterwards",
                  dl.part);
  d.src = o.src;
  noxrc_progress_init(&dl.progress, "download", 0);
  err = nox_download(&rc->current, rc->client, rc->session, &d, on_data,
                     on_downloaded, rc);
  if (err != 0) {
    if (!dl.to_stdout) {
      close(dl.fd);
      unlink(dl.part);
    }
    dl.fd = -1;
    return noxrc_report_error(rc, "download", NULL, err);
  }
  return 0;
}

int noxrc_cmd_download(noxrc_t *rc, int argc, char **argv) {
  nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
  noxrc_strv_t pos = {NULL, 0};
  int err = noxrc_args_parse(&download_cmd, argc, argv, &pos);

  if (err == 0 && pos.n == 0)
    err = noxrc_usage_error("download", "missing the session ID");
  else if (err == 0 && pos.n > 1)
    err = noxrc_usage_error("download", "unexpected argument '%s'", pos.v[1]);
  else if (err == 0 && pos.v[0][0] == '\0')
    err = noxrc_usage_error("download", "the session ID is empty");
  else if (err == 0 && o.output != NULL && o.extract != NULL)
    err = noxrc_usage_error("download", "give --output or --extract, not both");
  else if (err == 0 && o.extract != NULL && !extract_target_ok(o.extract))
    err = noxrc_usage_error(
        "download", "--extract '%s' must not exist or be empty", o.extract);
  else if (err == 0 && o.extract == NULL && o.output == NULL &&
           (isatty(STDOUT_FILENO) || noxrc_g.json))
    err = noxrc_usage_error("download", "where to? give --output FILE.tar.gz "
                                        "or --extract DIR");
  if (err == 0)
    err = noxrc_connect(rc);
  if (err != 0) {
    noxrc_strv_free(&pos);
    return err;
  }
  rc->session = pos.v[0];
  noxrc_strv_free(&pos);
  if (o.extract == NULL) {
    err = download_raw(rc);
    return err != 0 ? err : NOXRC_RUNNING;
  }
  /* The streaming sink unpacks as bytes arrive, off the loop thread. */
  d.src = o.src;
  d.extract_dir = o.extract;
  d.progress = on_dl_progress;
  noxrc_progress_init(&dl.progress, "download", 0);
  err = nox_download(&rc->current, rc->client, rc->session, &d, NULL,
                     on_downloaded, rc);
  if (err == NOX_EINVAL)
    err = download_raw(rc);
  else if (err != 0)
    err = noxrc_report_error(rc, "download", NULL, err);
  return err != 0 ? err : NOXRC_RUNNING;
}
