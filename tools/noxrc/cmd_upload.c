/*
 * upload: files, or a directory tree, into a sandbox. FILE arguments are
 * read into memory (the files source); --dir streams with the dir source.
 */
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
} o;

static const noxrc_argspec_t upload_spec[] = {
    {"dir", ARG_STR, &o.dir, "DIR",
     "upload the tree under DIR (its contents, not DIR itself)"},
    {"dest", ARG_STR, &o.dest, "PATH",
     "where in the sandbox (default /workspace)"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_cmdspec_t upload_cmd = {
    "upload", "ID FILE... | ID --dir DIR [--dest PATH]",
    "Uploads files (a directory argument brings its tree) keeping their "
    "relative\npaths; absolute paths or paths with '..' keep only their "
    "last name. Two files\nthat would land on the same name are an error.",
    upload_spec, 0};

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
  /* File content the library will pack: regular files, not symlinks. */
  uint64_t data_total;
  size_t skipped;
  /* Only count files (the library reads --dir itself while it sends). */
  int count_only;
  noxrc_progress_t progress;
} up;

static void upfiles_free(void) {
  for (size_t i = 0; up.v != NULL && i < up.n; i++) {
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
  upfile_t *f = &up.v[up.n];
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
      /* --dir: the library stores a symlink as a symlink, without data. */
      if (up.count_only && S_ISREG(lst.st_mode))
        up.data_total += (uint64_t)lst.st_size;
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

/*
 * The total is known before sending: the file content counted while the
 * tree was walked (or read). The display follows the content packed so
 * far (nox_progress_t.data_bytes), not the compressed bytes on the wire,
 * whose count is known only at the end.
 */
static void on_up_progress(nox_req_t *req, const nox_progress_t *p) {
  if (up.data_total != 0)
    noxrc_progress_update(&up.progress, p->data_bytes, up.data_total);
  else
    noxrc_progress_update(&up.progress, p->bytes, 0);
}

static void on_uploaded(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);
  const char *dest = o.dest != NULL ? o.dest : "/workspace";
  rc->current = NULL;
  noxrc_progress_done(&up.progress, status == 0);
  if (status != 0) {
    upfiles_free();
    noxrc_finish(rc, noxrc_report_error(rc, "upload", req, status));
    return;
  }
  char size[32];
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
  if (files == NULL)
    return NOX_ENOMEM;
  for (size_t i = 0; i < up.n; i++) {
    files[i].path = up.v[i].name;
    files[i].data = up.v[i].data;
    files[i].len = up.v[i].len;
    files[i].mode = up.v[i].mode;
    noxrc_verbose("  %s <- %s (%zu bytes)", up.v[i].name, up.v[i].from,
                  up.v[i].len);
  }
  uo->files = files;
  uo->nfiles = up.n;
  int err =
      nox_upload(&rc->current, rc->client, rc->session, uo, on_uploaded, rc);
  free(files);
  return err;
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
  err = noxrc_connect_session(rc, err, &pos);
  if (err != 0) {
    upfiles_free();
    return err;
  }
  uo.dest = o.dest;
  uo.progress = on_up_progress;
  noxrc_progress_init(&up.progress, "upload", 0);
  if (o.dir == NULL) {
    up.data_total = up.bytes; /* exactly the bytes read into memory */
    err = upload_files(rc, &uo);
  } else {
    uo.dir = o.dir;
    noxrc_verbose("streaming %s (%zu files)", o.dir, up.n);
    err =
        nox_upload(&rc->current, rc->client, rc->session, &uo, on_uploaded, rc);
  }
  if (err != 0) {
    upfiles_free();
    if (err == NOX_EINVAL || err == NOX_EARCHIVE)
      noxrc_fail("upload: cannot pack the files: %s (%s)", nox_strerror(err),
                 nox_client_last_error(rc->client)->message);
    return err == NOX_EINVAL ? NOXRC_EXIT_USAGE
                             : noxrc_report_error(rc, "upload", NULL, err);
  }
  return NOXRC_RUNNING;
}
