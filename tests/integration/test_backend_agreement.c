/*
 * The two backends agree: one table of bad inputs per operation, each row
 * run on a local: client and on an http:// client against noxd (the local
 * backend behind the HTTP one), asserting the same nox error code on both,
 * a non-empty message on both (naming the bad path where there is one),
 * and HTTP status 400 behind noxd's NOX_EINVAL. Then one table of sandbox
 * paths, tricky and plain, each as an exec's workdir, an upload's dest and a
 * download's src on both: both backends accept the same ones (and put the
 * upload in the same place) and refuse the same ones, the rule of
 * nox_workspace_path() that both apply. Then an extract_dir
 * download of the same tree on both, whose nox_req_transfer() reports the
 * same, non-zero, bytes and entries, and the bytes an on_data download of
 * that tree delivers.
 */
#include <sys/stat.h>

#include <noxrunner/util.h>

#include "local_util.h"
#include "noxd_util.h"

#define SANDBOX "agree"
#define UNKNOWN "no-such-sandbox"

typedef enum {
  OP_EXEC,
  OP_UPLOAD,
  OP_UPLOAD_JUNK, /* an archive no tar reader takes */
  OP_DOWNLOAD,
  OP_TOUCH
} op_t;

typedef struct {
  const char *what;
  op_t op;
  const char *id;
  const char *path; /* workdir, dest or src; NULL for the default */
  int want;
} row_t;

static const row_t rows[] = {
    {"exec, workdir /etc", OP_EXEC, SANDBOX, "/etc", NOX_EINVAL},
    {"exec, workdir climbing out", OP_EXEC, SANDBOX, "/workspace/../etc",
     NOX_EINVAL},
    {"exec, workdir /", OP_EXEC, SANDBOX, "/", NOX_EINVAL},
    {"upload, dest /etc", OP_UPLOAD, SANDBOX, "/etc", NOX_EINVAL},
    {"upload, dest climbing out", OP_UPLOAD, SANDBOX, "/workspace/../tmp",
     NOX_EINVAL},
    {"upload, unreadable archive", OP_UPLOAD_JUNK, SANDBOX, NULL, NOX_EARCHIVE},
    {"download, src /etc", OP_DOWNLOAD, SANDBOX, "/etc", NOX_EINVAL},
    {"download, src climbing out", OP_DOWNLOAD, SANDBOX,
     "/workspace/../etc/passwd", NOX_EINVAL},
    {"download, missing src", OP_DOWNLOAD, SANDBOX, "/workspace/missing",
     NOX_ENOTFOUND},
    {"touch, unknown sandbox", OP_TOUCH, UNKNOWN, NULL, NOX_ENOTFOUND},
    {"upload, unknown sandbox", OP_UPLOAD, UNKNOWN, NULL, NOX_ENOTFOUND},
    {"download, unknown sandbox", OP_DOWNLOAD, UNKNOWN, NULL, NOX_ENOTFOUND},
    {"exec, unknown sandbox", OP_EXEC, UNKNOWN, NULL, NOX_ENOTFOUND},
};

typedef struct {
  lt_res_t r;
  long http_status;
  nox_transfer_report_t rep;
} outcome_t;

static void note(outcome_t *o, nox_req_t *req, int status) {
  const nox_transfer_report_t *t = nox_req_transfer(req);
  lt_note(&o->r, req, status);
  o->http_status = nox_req_error(req)->http_status;
  if (t != NULL)
    o->rep = *t;
}

static void on_done(nox_req_t *req, int status) {
  note(nox_req_data(req), req, status);
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *res) {
  (void)res;
  note(nox_req_data(req), req, status);
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  (void)buf;
  ((outcome_t *)nox_req_data(req))->r.data_len += len;
  return 0;
}

static void wait_outcome(nox_client_t *c, outcome_t *o) {
  lt_wait(nox_client_loop(c), &o->r);
}

static const nox_file_t tree_files[] = {
    {"a.txt", "alpha\n", 6, 0},
    {"sub/b.txt", "bravo bravo bravo\n", 18, 0},
    {"sub/deeper/c.bin", "\x00\x01\x02\x03\xff", 5, 0755},
};

static void run_row(nox_client_t *c, const row_t *row, outcome_t *o) {
  static const char *const argv[] = {"true", NULL};
  memset(o, 0, sizeof(*o));
  switch (row->op) {
  case OP_EXEC: {
    nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
    eo.workdir = row->path;
    ASSERT_EQ(nox_exec(NULL, c, row->id, argv, &eo, on_exec, o), 0);
    break;
  }
  case OP_UPLOAD: {
    nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
    uo.dest = row->path;
    uo.files = tree_files;
    uo.nfiles = 1;
    ASSERT_EQ(nox_upload(NULL, c, row->id, &uo, on_done, o), 0);
    break;
  }
  case OP_UPLOAD_JUNK: {
    nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
    uo.dest = row->path;
    uo.archive = "definitely not a tarball";
    uo.archive_len = strlen(uo.archive);
    ASSERT_EQ(nox_upload(NULL, c, row->id, &uo, on_done, o), 0);
    break;
  }
  case OP_DOWNLOAD: {
    nox_download_options_t dn = NOX_DOWNLOAD_OPTIONS_INIT;
    dn.src = row->path;
    ASSERT_EQ(nox_download(NULL, c, row->id, &dn, on_data, on_done, o), 0);
    break;
  }
  case OP_TOUCH:
    ASSERT_EQ(nox_touch(NULL, c, row->id, on_done, o), 0);
    break;
  }
  wait_outcome(c, o);
}

static void check_rows(nox_client_t *local, nox_client_t *http) {
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    const row_t *row = &rows[i];
    outcome_t l, h;
    run_row(local, row, &l);
    run_row(http, row, &h);
    fprintf(stderr, "%-28s local: %-13s \"%s\"\n%-28s noxd:  %-13s \"%s\"\n",
            row->what, nox_err_name(l.r.status), l.r.msg, "",
            nox_err_name(h.r.status), h.r.msg);
    ASSERT_EQ(l.r.status, h.r.status);
    ASSERT_EQ(l.r.status, row->want);
    ASSERT(l.r.msg[0] != '\0');
    ASSERT(h.r.msg[0] != '\0');
    ASSERT_EQ(l.http_status, 0);
    ASSERT_EQ(h.http_status, row->want == NOX_ENOTFOUND ? 404 : 400);
    if (row->path != NULL) {
      ASSERT(strstr(l.r.msg, row->path) != NULL);
      ASSERT(strstr(h.r.msg, row->path) != NULL);
    }
  }
}

/*
 * Sandbox paths: where each one lands below /workspace when it is accepted
 * (the directory "test -d" finds afterwards, "" for /workspace itself), or
 * NULL when both backends must refuse it with NOX_EINVAL.
 */
typedef struct {
  const char *path;
  const char *lands;
} path_row_t;

static const path_row_t paths[] = {
    {"/workspace", ""},
    {"/workspace/", ""},
    {".", ""},
    {"rel/dir", "rel/dir"},
    {"./a/../b/", "b"},
    {"//workspace//c//", "c"},
    {"/workspace/d/./e/", "d/e"},
    {"/workspace/x/../../workspace/f", "f"},
    {"/../workspace/g", "g"},
    {"../workspace/h", "h"},
    {"/workspace/..dots", "..dots"},
    {"/workspace/sp ace/%41", "sp ace/%41"},
    {"", NULL},
    {"/", NULL},
    {"//", NULL},
    {"..", NULL},
    {"../..", NULL},
    {"/workspace/..", NULL},
    {"/workspace/../etc", NULL},
    {"/workspace/./../tmp/", NULL},
    {"a/../../..", NULL},
    {"/workspacex", NULL},
    {"../workspace2", NULL},
    {"/etc/../workspace/../etc", NULL},
};

/* Both backends on one path as one op: the same answer, the expected one. */
static void agree_on_path(nox_client_t *local, nox_client_t *http, op_t op,
                          const char *path, int want) {
  static const char *const what[] = {"exec", "upload", "", "download"};
  row_t row = {what[op], op, SANDBOX, path, want};
  outcome_t l, h;
  run_row(local, &row, &l);
  run_row(http, &row, &h);
  if (l.r.status != want || h.r.status != want)
    fprintf(stderr, "%s \"%.80s\": local %s \"%s\", noxd %s \"%s\"\n", what[op],
            path, nox_err_name(l.r.status), l.r.msg, nox_err_name(h.r.status),
            h.r.msg);
  ASSERT_EQ(l.r.status, want);
  ASSERT_EQ(h.r.status, want);
  if (want == 0)
    return;
  ASSERT_EQ(h.http_status, 400);
  /* The message names the path (its start: long ones are cut). */
  char start[64];
  snprintf(start, sizeof(start), "%s", path);
  ASSERT(strstr(l.r.msg, start) != NULL);
  ASSERT(strstr(h.r.msg, start) != NULL);
}

/* The upload of one path landed at lands on c's sandbox. */
static void check_landed(nox_client_t *c, const char *lands) {
  char script[700];
  lt_res_t r;
  snprintf(script, sizeof(script), "test -f './%s/a.txt'", lands);
  lt_sh(c, SANDBOX, script, &r);
  if (r.exit_code != 0)
    fprintf(stderr, "no a.txt in \"%s\"\n", lands);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);
}

static void agree_on(nox_client_t *local, nox_client_t *http, const char *path,
                     const char *lands) {
  int want = lands != NULL ? 0 : NOX_EINVAL;
  /* The exec makes the directory, the upload fills it, the download reads. */
  agree_on_path(local, http, OP_EXEC, path, want);
  agree_on_path(local, http, OP_UPLOAD, path, want);
  agree_on_path(local, http, OP_DOWNLOAD, path, want);
  if (lands != NULL) {
    check_landed(local, lands);
    check_landed(http, lands);
  }
}

static void check_paths(nox_client_t *local, nox_client_t *http) {
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
    agree_on(local, http, paths[i].path, paths[i].lands);

  /*
   * Long names: a component of 255 bytes (NAME_MAX) is a name like any
   * other; one of 256 is refused as a bad name on both (not an I/O error),
   * and so is a path past PATH_MAX made of names that are each fine.
   */
  char name[300], path[300], deep[5000];
  memset(name, 'n', 255);
  name[255] = '\0';
  snprintf(path, sizeof(path), "/workspace/%s", name);
  agree_on(local, http, path, name);
  snprintf(path, sizeof(path), "/workspace/%sN", name);
  agree_on(local, http, path, NULL);
  size_t n = 0;
  while (n + 101 < sizeof(deep)) { /* relative: "ddd.../ddd.../..." */
    memset(deep + n, 'd', 100);
    n += 100;
    deep[n++] = '/';
  }
  deep[n] = '\0';
  agree_on(local, http, deep, NULL);
}

/*
 * The same tree in both sandboxes, with the same times (the download's
 * headers carry them), so that both backends pack the same archive.
 */
static void make_tree(nox_client_t *c) {
  lt_res_t r;
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dest = "/workspace/tree";
  uo.files = tree_files;
  uo.nfiles = sizeof(tree_files) / sizeof(tree_files[0]);
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_upload(NULL, c, SANDBOX, &uo, lt_on_done, &r), 0);
  lt_wait(nox_client_loop(c), &r);
  ASSERT_EQ(r.status, 0);
  lt_sh(c, SANDBOX,
        "chmod 755 tree tree/sub tree/sub/deeper && "
        "find tree -exec touch -d @1500000000 {} +",
        &r);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);
}

/* An extract_dir download of /workspace/tree into dir, and its report. */
static void extract(nox_client_t *c, const char *dir, outcome_t *o) {
  nox_download_options_t dn = NOX_DOWNLOAD_OPTIONS_INIT;
  dn.src = "/workspace/tree";
  dn.extract_dir = dir;
  memset(o, 0, sizeof(*o));
  ASSERT_EQ(nox_download(NULL, c, SANDBOX, &dn, NULL, on_done, o), 0);
  wait_outcome(c, o);
  if (o->r.status != 0)
    fprintf(stderr, "extract: %s: %s\n", nox_err_name(o->r.status), o->r.msg);
  ASSERT_EQ(o->r.status, 0);
}

/* The same src to on_data: the bytes it delivers and its report. */
static void raw(nox_client_t *c, outcome_t *o) {
  nox_download_options_t dn = NOX_DOWNLOAD_OPTIONS_INIT;
  dn.src = "/workspace/tree";
  memset(o, 0, sizeof(*o));
  ASSERT_EQ(nox_download(NULL, c, SANDBOX, &dn, on_data, on_done, o), 0);
  wait_outcome(c, o);
  ASSERT_EQ(o->r.status, 0);
}

static void check_file(const char *dir, const char *name, size_t len) {
  char path[1024];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT_EQ(st.st_size, (long long)len);
}

static void check_extract(nox_client_t *local, nox_client_t *http,
                          const char *tmp) {
  char ldir[600], hdir[600];
  outcome_t l, h, lraw, hraw;

  make_tree(local);
  make_tree(http);
  snprintf(ldir, sizeof(ldir), "%s/from-local", tmp);
  snprintf(hdir, sizeof(hdir), "%s/from-noxd", tmp);
  extract(local, ldir, &l);
  extract(http, hdir, &h);
  fprintf(stderr,
          "extract_dir: local %llu bytes %llu entries, noxd %llu "
          "bytes %llu entries\n",
          (unsigned long long)l.rep.bytes, (unsigned long long)l.rep.entries,
          (unsigned long long)h.rep.bytes, (unsigned long long)h.rep.entries);
  ASSERT_GT(l.rep.entries, 0);
  ASSERT_GT(l.rep.bytes, 0);
  ASSERT_UEQ(l.rep.entries, h.rep.entries);
  ASSERT_UEQ(l.rep.refused, 0);
  ASSERT_UEQ(h.rep.refused, 0);
  for (size_t i = 0; i < sizeof(tree_files) / sizeof(tree_files[0]); i++) {
    check_file(ldir, tree_files[i].path, tree_files[i].len);
    check_file(hdir, tree_files[i].path, tree_files[i].len);
  }

  /*
   * Over HTTP the bytes counted are those of the tar.gz an on_data download
   * gets. The local backend moves no byte over a wire: it counts the plain
   * tar it packed (whole 512-byte blocks, more than the files' content).
   */
  raw(local, &lraw);
  raw(http, &hraw);
  size_t content = 0;
  for (size_t i = 0; i < sizeof(tree_files) / sizeof(tree_files[0]); i++)
    content += tree_files[i].len;
  ASSERT_UEQ(l.rep.bytes % 512, 0);
  ASSERT_GT(l.rep.bytes, content + 512 * l.rep.entries - 1);
  ASSERT_UEQ(hraw.r.data_len, h.rep.bytes);
  ASSERT_UEQ(lraw.rep.bytes, lraw.r.data_len);
  ASSERT_UEQ(hraw.rep.bytes, hraw.r.data_len);
}

/*
 * The local backend's own tar of an extract_dir download is not an archive
 * from afar: the expansion-ratio limit has nothing to guard there, so a file
 * of zeros (which gzip would shrink a thousand times) extracts even under a
 * ratio limit of 2.
 */
static void check_local_zeros(nox_client_t *local, const char *tmp) {
  char dir[600], path[700];
  lt_res_t r;
  outcome_t o;
  struct stat st;
  nox_download_options_t dn = NOX_DOWNLOAD_OPTIONS_INIT;

  lt_sh(local, SANDBOX, "head -c 4000000 /dev/zero > zeros.bin", &r);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);
  snprintf(dir, sizeof(dir), "%s/zeros", tmp);
  dn.src = "/workspace/zeros.bin";
  dn.extract_dir = dir;
  dn.limits.max_ratio = 2;
  memset(&o, 0, sizeof(o));
  ASSERT_EQ(nox_download(NULL, local, SANDBOX, &dn, NULL, on_done, &o), 0);
  wait_outcome(local, &o);
  ASSERT_EQ(o.r.status, 0);
  snprintf(path, sizeof(path), "%s/zeros.bin", dir);
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT_EQ(st.st_size, 4000000);
  ASSERT_GT(o.rep.bytes, 4000000);
}

int main(void) {
  uv_loop_t loop;
  noxd_test_t nx;
  char *root = lt_mkroot();
  char *tmp = lt_mkroot();
  nox_client_t *local, *http;
  lt_res_t r;

  ASSERT_EQ(noxd_test_start(&nx, "none", NULL), 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  local = lt_client(&loop, root, NOX_ISOLATION_NONE);
  {
    nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
    o.base_url = nx.srv.url;
    o.max_retries = NOX_RETRIES_NONE;
    ASSERT_EQ(nox_client_new(&http, &loop, &o), 0);
  }
  ASSERT_EQ(lt_create(local, SANDBOX, 0, &r), 0);
  ASSERT_EQ(lt_create(http, SANDBOX, 0, &r), 0);

  check_rows(local, http);
  check_paths(local, http);
  check_extract(local, http, tmp);
  check_local_zeros(local, tmp);

  lt_close(local);
  lt_close(http);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT_EQ(noxd_test_stop(&nx), 0);
  lt_rmroot(root);
  lt_rmroot(tmp);
  return 0;
}
