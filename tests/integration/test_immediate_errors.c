/*
 * Calls refused at once: one table of bad calls through the asynchronous
 * API (on a local: client and on an http:// client, which sends nothing),
 * the blocking wrapper (sync.h) and the fleet layer (sandbox.h: handles and
 * fan-outs). For each row: the code returned, the same code in the error
 * record (nox_client_last_error(), or nox_sync_last_error()), a message
 * that starts with the function the caller used and names the argument,
 * no HTTP status or curl code (nothing was sent), and no callback ever.
 */
#include <noxrunner/sandbox.h>
#include <noxrunner/sync.h>

#include "harness.h"
#include "local_util.h"

typedef struct {
  uv_loop_t *loop;
  nox_client_t *c;
  nox_sync_t *s;
  nox_sandbox_t *sb;
} env_t;

typedef struct {
  const char *what; /* the rule the row breaks, for failure reports */
  int (*call)(env_t *e);
  int want;
  const char *fn;     /* the message starts with "fn:" */
  const char *needle; /* and names the argument */
} row_t;

/* Callbacks of calls that must never start: each counts a breach. */
static int callbacks;

static void never_done(nox_req_t *req, int status) {
  (void)req;
  (void)status;
  callbacks++;
}

static void never_exec(nox_req_t *req, int status,
                       const nox_exec_result_t *res) {
  (void)req;
  (void)status;
  (void)res;
  callbacks++;
}

static void never_create(nox_req_t *req, int status,
                         const nox_sandbox_info_t *info) {
  (void)req;
  (void)status;
  (void)info;
  callbacks++;
}

static int never_data(nox_req_t *req, const char *buf, size_t len) {
  (void)req;
  (void)buf;
  (void)len;
  callbacks++;
  return 0;
}

static void never_ready(nox_sandbox_t *sb, int status) {
  (void)sb;
  (void)status;
  callbacks++;
}

static void never_fanout(nox_fanout_t *f, const nox_fanout_report_t *r,
                         void *data) {
  (void)f;
  (void)r;
  (void)data;
  callbacks++;
}

static const char *const good_argv[] = {"true", NULL};
static const char *const empty_argv[] = {NULL};
static const nox_file_t dotdot_file[] = {{"../x", "x", 1, 0}};
static const nox_file_t abs_file[] = {{"/etc/x", "x", 1, 0}};
static const nox_file_t dir_file[] = {{"sub/", "x", 1, 0}};

/* ---- the asynchronous API ------------------------------------------------ */

static int a_touch_null_id(env_t *e) {
  return nox_touch(NULL, e->c, NULL, never_done, NULL);
}
static int a_touch_empty_id(env_t *e) {
  return nox_touch(NULL, e->c, "", never_done, NULL);
}
static int a_touch_long_id(env_t *e) {
  static char id[1026];
  memset(id, 'i', sizeof(id) - 1);
  return nox_touch(NULL, e->c, id, never_done, NULL);
}
static int a_health_no_cb(env_t *e) {
  return nox_health(NULL, e->c, NULL, NULL);
}
static int a_delete_empty_id(env_t *e) {
  return nox_delete(NULL, e->c, "", never_done, NULL);
}
static int a_create_null_id(env_t *e) {
  return nox_create(NULL, e->c, NULL, NULL, never_create, NULL);
}
static int a_create_bad_version(env_t *e) {
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  o.version = 99;
  return nox_create(NULL, e->c, "x", &o, never_create, NULL);
}
static int a_exec_null_argv(env_t *e) {
  return nox_exec(NULL, e->c, "x", NULL, NULL, never_exec, NULL);
}
static int a_exec_empty_argv(env_t *e) {
  return nox_exec(NULL, e->c, "x", empty_argv, NULL, never_exec, NULL);
}
static int a_exec_no_cb(env_t *e) {
  return nox_exec(NULL, e->c, "x", good_argv, NULL, NULL, NULL);
}
static int a_exec_empty_id(env_t *e) {
  return nox_exec(NULL, e->c, "", good_argv, NULL, never_exec, NULL);
}
static int a_exec_bad_version(env_t *e) {
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  o.version = 0;
  return nox_exec(NULL, e->c, "x", good_argv, &o, never_exec, NULL);
}
static int a_exec_bad_env(env_t *e) {
  static const char *const env[] = {"=nameless", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  o.env = env;
  return nox_exec(NULL, e->c, "x", good_argv, &o, never_exec, NULL);
}
static int a_exec_bad_utf8(env_t *e) {
  static const char *const argv[] = {"echo", "\xff\xfe", NULL};
  return nox_exec(NULL, e->c, "x", argv, NULL, never_exec, NULL);
}
static int a_shell_zsh(env_t *e) {
  return nox_exec_shell(NULL, e->c, "x", "zsh", "true", NULL, never_exec,
                        NULL);
}
static int a_shell_null_script(env_t *e) {
  return nox_exec_shell(NULL, e->c, "x", "sh", NULL, NULL, never_exec, NULL);
}
static int upload_with(env_t *e, const nox_upload_options_t *o) {
  return nox_upload(NULL, e->c, "x", o, never_done, NULL);
}
static int a_upload_dotdot(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = dotdot_file;
  o.nfiles = 1;
  return upload_with(e, &o);
}
static int a_upload_absolute(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = abs_file;
  o.nfiles = 1;
  return upload_with(e, &o);
}
static int a_upload_dir_name(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = dir_file;
  o.nfiles = 1;
  return upload_with(e, &o);
}
static int a_upload_no_source(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  return upload_with(e, &o);
}
static int a_upload_null_opts(env_t *e) {
  return upload_with(e, NULL);
}
static int a_upload_two_sources(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = dotdot_file;
  o.nfiles = 1;
  o.dir = "/tmp";
  return upload_with(e, &o);
}
static int a_upload_null_files(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.nfiles = 2;
  return upload_with(e, &o);
}
static int a_upload_empty_dir(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.dir = "";
  return upload_with(e, &o);
}
static int a_upload_bad_version(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.version = 7;
  o.files = abs_file;
  o.nfiles = 1;
  return upload_with(e, &o);
}
static int a_upload_no_cb(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.dir = "/tmp";
  return nox_upload(NULL, e->c, "x", &o, NULL, NULL);
}
static int a_download_no_sink(env_t *e) {
  return nox_download(NULL, e->c, "x", NULL, NULL, never_done, NULL);
}
static int on_entry_unused(nox_req_t *req, const nox_entry_t *entry,
                           const char *buf, size_t len) {
  (void)req;
  (void)entry;
  (void)buf;
  (void)len;
  callbacks++;
  return 0;
}
static int a_download_two_sinks(env_t *e) {
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.extract_dir = "/tmp/never";
  o.on_entry = on_entry_unused;
  return nox_download(NULL, e->c, "x", &o, NULL, never_done, NULL);
}
static int a_download_empty_extract(env_t *e) {
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.extract_dir = "";
  return nox_download(NULL, e->c, "x", &o, NULL, never_done, NULL);
}
static int a_download_bad_version(env_t *e) {
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.version = 2;
  return nox_download(NULL, e->c, "x", &o, never_data, never_done, NULL);
}
static int a_wait_no_cb(env_t *e) {
  return nox_wait_ready(NULL, e->c, "x", NULL, NULL, NULL);
}
static int a_wait_bad_version(env_t *e) {
  nox_wait_options_t o = NOX_WAIT_OPTIONS_INIT;
  o.version = 3;
  return nox_wait_ready(NULL, e->c, "x", &o, never_done, NULL);
}

static const row_t async_rows[] = {
    {"NULL id", a_touch_null_id, NOX_EINVAL, "nox_touch", "session_id"},
    {"empty id", a_touch_empty_id, NOX_EINVAL, "nox_touch", "session_id"},
    {"id over 1024 bytes", a_touch_long_id, NOX_EINVAL, "nox_touch",
     "session_id"},
    {"empty id", a_delete_empty_id, NOX_EINVAL, "nox_delete", "session_id"},
    {"NULL callback", a_health_no_cb, NOX_EINVAL, "nox_health", "cb"},
    {"NULL id", a_create_null_id, NOX_EINVAL, "nox_create", "session_id"},
    {"options layout", a_create_bad_version, NOX_EINVAL, "nox_create",
     "opts->version"},
    {"NULL argv", a_exec_null_argv, NOX_EINVAL, "nox_exec", "argv"},
    {"empty argv", a_exec_empty_argv, NOX_EINVAL, "nox_exec", "argv"},
    {"NULL callback", a_exec_no_cb, NOX_EINVAL, "nox_exec", "cb"},
    {"empty id", a_exec_empty_id, NOX_EINVAL, "nox_exec", "session_id"},
    {"options layout", a_exec_bad_version, NOX_EINVAL, "nox_exec",
     "opts->version"},
    {"env entry without a name", a_exec_bad_env, NOX_EINVAL, "nox_exec",
     "opts->env[0]"},
    {"argv not UTF-8", a_exec_bad_utf8, NOX_EINVAL, "nox_exec", "argv[1]"},
    {"unsupported shell", a_shell_zsh, NOX_EBADSHELL, "nox_exec_shell",
     "\"zsh\""},
    {"NULL script", a_shell_null_script, NOX_EINVAL, "nox_exec_shell",
     "script"},
    {"\"..\" in a file name", a_upload_dotdot, NOX_EINVAL, "nox_upload",
     "opts->files[0].path"},
    {"absolute file name", a_upload_absolute, NOX_EINVAL, "nox_upload",
     "\"/etc/x\" (opts->files[0].path) must be a relative path"},
    {"file name of a directory", a_upload_dir_name, NOX_EINVAL, "nox_upload",
     "opts->files[0].path"},
    {"no upload source", a_upload_no_source, NOX_EINVAL, "nox_upload",
     "no upload source"},
    {"NULL options", a_upload_null_opts, NOX_EINVAL, "nox_upload", "opts"},
    {"two upload sources", a_upload_two_sources, NOX_EINVAL, "nox_upload",
     "(files, dir)"},
    {"nfiles without files", a_upload_null_files, NOX_EINVAL, "nox_upload",
     "opts->files is NULL"},
    {"empty dir", a_upload_empty_dir, NOX_EINVAL, "nox_upload", "opts->dir"},
    {"options layout", a_upload_bad_version, NOX_EINVAL, "nox_upload",
     "opts->version"},
    {"NULL callback", a_upload_no_cb, NOX_EINVAL, "nox_upload", "cb"},
    {"no sink", a_download_no_sink, NOX_EINVAL, "nox_download", "on_data"},
    {"two sinks", a_download_two_sinks, NOX_EINVAL, "nox_download",
     "opts->extract_dir and opts->on_entry"},
    {"empty extract_dir", a_download_empty_extract, NOX_EINVAL,
     "nox_download", "opts->extract_dir"},
    {"options layout", a_download_bad_version, NOX_EINVAL, "nox_download",
     "opts->version"},
    {"NULL callback", a_wait_no_cb, NOX_EINVAL, "nox_wait_ready", "cb"},
    {"options layout", a_wait_bad_version, NOX_EINVAL, "nox_wait_ready",
     "opts->version"},
};

/* ---- the blocking wrapper ------------------------------------------------ */

static int s_exec_null_argv(env_t *e) {
  nox_exec_result_t *res = (nox_exec_result_t *)&res;
  int rc = nox_sync_exec(&res, e->s, "x", NULL, NULL);
  ASSERT(res == NULL);
  return rc;
}
static int s_exec_empty_argv(env_t *e) {
  nox_exec_result_t *res = NULL;
  return nox_sync_exec(&res, e->s, "x", empty_argv, NULL);
}
static int s_shell_zsh(env_t *e) {
  nox_exec_result_t *res = NULL;
  return nox_sync_exec_shell(&res, e->s, "x", "zsh", "true", NULL);
}
static int s_touch_empty_id(env_t *e) {
  return nox_sync_touch(e->s, "");
}
static int s_delete_null_id(env_t *e) {
  return nox_sync_delete(e->s, NULL);
}
static int s_create_bad_version(env_t *e) {
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  nox_sandbox_info_t *info = NULL;
  o.version = 42;
  int rc = nox_sync_create(&info, e->s, "x", &o);
  ASSERT(info == NULL);
  return rc;
}
static int s_upload_dotdot(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = dotdot_file;
  o.nfiles = 1;
  return nox_sync_upload(e->s, "x", &o);
}
static int s_upload_absolute(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = abs_file;
  o.nfiles = 1;
  return nox_sync_upload(e->s, "x", &o);
}
static int s_upload_no_source(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  return nox_sync_upload(e->s, "x", &o);
}
static int s_download_no_sink(env_t *e) {
  return nox_sync_download_to(e->s, "x", NULL, NULL, NULL);
}
static int s_download_empty_id(env_t *e) {
  void *buf = NULL;
  size_t len = 0;
  return nox_sync_download(&buf, &len, e->s, "", NULL);
}
static int s_wait_bad_version(env_t *e) {
  nox_wait_options_t o = NOX_WAIT_OPTIONS_INIT;
  o.version = 9;
  return nox_sync_wait_ready(e->s, "x", &o);
}

static const row_t sync_rows[] = {
    {"NULL argv", s_exec_null_argv, NOX_EINVAL, "nox_sync_exec", "argv"},
    {"empty argv", s_exec_empty_argv, NOX_EINVAL, "nox_sync_exec", "argv"},
    {"unsupported shell", s_shell_zsh, NOX_EBADSHELL, "nox_sync_exec_shell",
     "\"zsh\""},
    {"empty id", s_touch_empty_id, NOX_EINVAL, "nox_sync_touch", "session_id"},
    {"NULL id", s_delete_null_id, NOX_EINVAL, "nox_sync_delete",
     "session_id"},
    {"options layout", s_create_bad_version, NOX_EINVAL, "nox_sync_create",
     "opts->version"},
    {"\"..\" in a file name", s_upload_dotdot, NOX_EINVAL, "nox_sync_upload",
     "\"../x\" (opts->files[0].path)"},
    {"absolute file name", s_upload_absolute, NOX_EINVAL, "nox_sync_upload",
     "opts->files[0].path"},
    {"no upload source", s_upload_no_source, NOX_EINVAL, "nox_sync_upload",
     "no upload source"},
    {"no sink", s_download_no_sink, NOX_EINVAL, "nox_sync_download_to",
     "no sink"},
    {"empty id", s_download_empty_id, NOX_EINVAL, "nox_sync_download",
     "session_id"},
    {"options layout", s_wait_bad_version, NOX_EINVAL, "nox_sync_wait_ready",
     "opts->version"},
};

/* ---- the fleet layer ----------------------------------------------------- */

static int f_new_null_id(env_t *e) {
  nox_sandbox_t *sb = NULL;
  return nox_sandbox_new(&sb, e->c, NULL, NULL, never_ready, NULL);
}
static int f_new_empty_id(env_t *e) {
  nox_sandbox_t *sb = NULL;
  int rc = nox_sandbox_new(&sb, e->c, "", NULL, never_ready, NULL);
  ASSERT(sb == NULL);
  return rc;
}
static int f_new_no_cb(env_t *e) {
  nox_sandbox_t *sb = NULL;
  return nox_sandbox_new(&sb, e->c, "y", NULL, NULL, NULL);
}
static int f_new_bad_version(env_t *e) {
  nox_sandbox_options_t o = NOX_SANDBOX_OPTIONS_INIT;
  nox_sandbox_t *sb = NULL;
  o.version = 5;
  return nox_sandbox_new(&sb, e->c, "y", &o, never_ready, NULL);
}
static int f_new_lease_too_slow(env_t *e) {
  nox_create_options_t co = NOX_CREATE_OPTIONS_INIT;
  nox_sandbox_options_t o = NOX_SANDBOX_OPTIONS_INIT;
  nox_sandbox_t *sb = NULL;
  co.ttl_seconds = 10;
  o.create = &co;
  o.lease = 1;
  o.touch_interval_ms = 10000;
  return nox_sandbox_new(&sb, e->c, "y", &o, never_ready, NULL);
}
static int f_new_bad_create_version(env_t *e) {
  nox_create_options_t co = NOX_CREATE_OPTIONS_INIT;
  nox_sandbox_options_t o = NOX_SANDBOX_OPTIONS_INIT;
  nox_sandbox_t *sb = NULL;
  co.version = 8;
  o.create = &co;
  return nox_sandbox_new(&sb, e->c, "y", &o, never_ready, NULL);
}
static int f_exec_null_argv(env_t *e) {
  return nox_sandbox_exec(NULL, e->sb, NULL, NULL, never_exec, NULL);
}
static int f_exec_no_cb(env_t *e) {
  return nox_sandbox_exec(NULL, e->sb, good_argv, NULL, NULL, NULL);
}
static int f_shell_zsh(env_t *e) {
  return nox_sandbox_exec_shell(NULL, e->sb, "zsh", "true", NULL, never_exec,
                                NULL);
}
static int f_upload_dotdot(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.files = dotdot_file;
  o.nfiles = 1;
  return nox_sandbox_upload(NULL, e->sb, &o, never_done, NULL);
}
static int f_upload_no_source(env_t *e) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  return nox_sandbox_upload(NULL, e->sb, &o, never_done, NULL);
}
static int f_download_no_sink(env_t *e) {
  return nox_sandbox_download(NULL, e->sb, NULL, NULL, never_done, NULL);
}
static int f_touch_no_cb(env_t *e) {
  return nox_sandbox_touch(NULL, e->sb, NULL, NULL);
}
static int fanout_with(env_t *e, nox_sandbox_t *const *sbs, size_t nsbs,
                       const nox_job_t *jobs, size_t njobs,
                       const nox_fanout_options_t *o, nox_fanout_cb done) {
  nox_fanout_t *f = NULL;
  int rc = nox_fanout(&f, sbs, nsbs, jobs, njobs, o, NULL, done, e);
  ASSERT(f == NULL);
  return rc;
}
static int f_fanout_no_done(env_t *e) {
  nox_job_t job = {good_argv, NULL, NULL, NULL, 0, NULL, NULL, NULL};
  return fanout_with(e, &e->sb, 1, &job, 1, NULL, NULL);
}
static int f_fanout_no_jobs(env_t *e) {
  return fanout_with(e, &e->sb, 1, NULL, 0, NULL, never_fanout);
}
static int f_fanout_argv_and_script(env_t *e) {
  nox_job_t jobs[2] = {{good_argv, NULL, NULL, NULL, 0, NULL, NULL, NULL},
                       {good_argv, "true", NULL, NULL, 0, NULL, NULL, NULL}};
  return fanout_with(e, &e->sb, 1, jobs, 2, NULL, never_fanout);
}
static int f_fanout_no_command(env_t *e) {
  nox_job_t job = {NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL};
  return fanout_with(e, &e->sb, 1, &job, 1, NULL, never_fanout);
}
static int f_fanout_bad_version(env_t *e) {
  nox_fanout_options_t o = NOX_FANOUT_OPTIONS_INIT;
  nox_job_t job = {good_argv, NULL, NULL, NULL, 0, NULL, NULL, NULL};
  o.version = 0;
  return fanout_with(e, &e->sb, 1, &job, 1, &o, never_fanout);
}
static int f_fanout_null_handle(env_t *e) {
  nox_sandbox_t *sbs[2] = {e->sb, NULL};
  nox_job_t job = {good_argv, NULL, NULL, NULL, 0, NULL, NULL, NULL};
  return fanout_with(e, sbs, 2, &job, 1, NULL, never_fanout);
}

static const row_t fleet_rows[] = {
    {"NULL id", f_new_null_id, NOX_EINVAL, "nox_sandbox_new", "session_id"},
    {"empty id", f_new_empty_id, NOX_EINVAL, "nox_sandbox_new",
     "session_id is empty"},
    {"NULL callback", f_new_no_cb, NOX_EINVAL, "nox_sandbox_new", "cb"},
    {"options layout", f_new_bad_version, NOX_EINVAL, "nox_sandbox_new",
     "opts->version"},
    {"create options layout", f_new_bad_create_version, NOX_EINVAL,
     "nox_sandbox_new", "opts->version is 8"},
    {"lease slower than the TTL", f_new_lease_too_slow, NOX_EINVAL,
     "nox_sandbox_new", "touch interval"},
    {"NULL argv", f_exec_null_argv, NOX_EINVAL, "nox_sandbox_exec", "argv"},
    {"NULL callback", f_exec_no_cb, NOX_EINVAL, "nox_sandbox_exec", "cb"},
    {"unsupported shell", f_shell_zsh, NOX_EBADSHELL,
     "nox_sandbox_exec_shell", "\"zsh\""},
    {"\"..\" in a file name", f_upload_dotdot, NOX_EINVAL,
     "nox_sandbox_upload", "opts->files[0].path"},
    {"no upload source", f_upload_no_source, NOX_EINVAL, "nox_sandbox_upload",
     "no upload source"},
    {"no sink", f_download_no_sink, NOX_EINVAL, "nox_sandbox_download",
     "no sink"},
    {"NULL callback", f_touch_no_cb, NOX_EINVAL, "nox_sandbox_touch", "cb"},
    {"NULL on_done", f_fanout_no_done, NOX_EINVAL, "nox_fanout", "on_done"},
    {"no jobs", f_fanout_no_jobs, NOX_EINVAL, "nox_fanout", "jobs"},
    {"argv and script", f_fanout_argv_and_script, NOX_EINVAL, "nox_fanout",
     "jobs[1]"},
    {"neither argv nor script", f_fanout_no_command, NOX_EINVAL, "nox_fanout",
     "jobs[0]"},
    {"options layout", f_fanout_bad_version, NOX_EINVAL, "nox_fanout",
     "opts->version"},
    {"NULL handle", f_fanout_null_handle, NOX_EINVAL, "nox_fanout",
     "sandboxes[1]"},
};

/* ---- the checks ---------------------------------------------------------- */

static void check_record(const row_t *r, int rc, const nox_error_t *err) {
  size_t n = strlen(r->fn);
  int ok = rc == r->want && err != NULL && err->code == r->want &&
           strncmp(err->message, r->fn, n) == 0 && err->message[n] == ':' &&
           strstr(err->message, r->needle) != NULL && err->http_status == 0 &&
           err->curl_code == 0;
  if (!ok)
    fprintf(stderr,
            "row \"%s\" of %s: returned %s, recorded %s \"%s\"; wanted %s "
            "and a message \"%s: ...%s...\"\n",
            r->what, r->fn, nox_err_name(rc),
            err ? nox_err_name(err->code) : "(no record)",
            err ? err->message : "", nox_err_name(r->want), r->fn, r->needle);
  ASSERT(ok);
}

static void run_client_rows(env_t *e, const row_t *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = rows[i].call(e);
    check_record(&rows[i], rc, nox_client_last_error(e->c));
  }
}

static void run_sync_rows(env_t *e) {
  for (size_t i = 0; i < sizeof(sync_rows) / sizeof(sync_rows[0]); i++) {
    int rc = sync_rows[i].call(e);
    check_record(&sync_rows[i], rc, nox_sync_last_error(e->s));
  }
}

/* The record stays until the next call that can fail, then clears. */
static void check_lifetime(env_t *e) {
  lt_res_t r;
  nox_client_stats_t st;

  ASSERT_EQ(a_exec_null_argv(e), NOX_EINVAL);
  /* Accessors leave it alone. */
  (void)nox_client_pending(e->c);
  (void)nox_client_loop(e->c);
  ASSERT_EQ(nox_client_stats(e->c, &st), 0);
  ASSERT_EQ(nox_client_last_error(e->c)->code, NOX_EINVAL);
  ASSERT(strstr(nox_client_last_error(e->c)->message, "argv") != NULL);
  /* A call that starts clears it, and so does its completion. */
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_health(NULL, e->c, lt_on_done, &r), 0);
  ASSERT_EQ(nox_client_last_error(e->c)->code, 0);
  ASSERT_STR_EQ(nox_client_last_error(e->c)->message, "");
  lt_wait(e->loop, &r);
  ASSERT_EQ(r.status, 0);
  /* A NULL client has nowhere to say anything. */
  ASSERT_EQ(nox_touch(NULL, NULL, "x", never_done, NULL), NOX_EINVAL);
  ASSERT(nox_client_last_error(NULL) == NULL);
  /* The sync wrapper clears its record on success too. */
  ASSERT_EQ(s_touch_empty_id(e), NOX_EINVAL);
  ASSERT_EQ(nox_sync_health(e->s), 0);
  ASSERT_EQ(nox_sync_last_error(e->s)->code, 0);
  ASSERT_STR_EQ(nox_sync_last_error(e->s)->message, "");
}

/* A closing client refuses with NOX_ECLOSING, and says so. */
static void check_closing(nox_client_t *c) {
  uv_loop_t *loop = nox_client_loop(c);
  int closed = 0;
  ASSERT_EQ(nox_client_close(c, lt_on_closed, &closed), 0);
  ASSERT_EQ(nox_touch(NULL, c, "x", never_done, NULL), NOX_ECLOSING);
  ASSERT_EQ(nox_client_last_error(c)->code, NOX_ECLOSING);
  ASSERT(strstr(nox_client_last_error(c)->message, "nox_touch: the client is "
                                                   "closing") != NULL);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}

typedef struct {
  int done, status;
} handle_res_t;

static void on_ready(nox_sandbox_t *sb, int status) {
  handle_res_t *r = nox_sandbox_data(sb);
  r->done = 1;
  r->status = status;
}

static void on_released(nox_sandbox_t *sb, int status, void *data) {
  handle_res_t *r = data;
  (void)sb;
  r->done = 1;
  r->status = status;
}

/* The fleet rows run on a live handle (made, created, then released). */
static void run_fleet_rows(env_t *e) {
  handle_res_t r = {0, -1};
  ASSERT_EQ(nox_sandbox_new(&e->sb, e->c, "fleet", NULL, on_ready, &r), 0);
  while (!r.done)
    uv_run(e->loop, UV_RUN_ONCE);
  ASSERT_EQ(r.status, 0);
  run_client_rows(e, fleet_rows, sizeof(fleet_rows) / sizeof(fleet_rows[0]));
  r.done = 0;
  ASSERT_EQ(nox_sandbox_release(e->sb, on_released, &r), 0);
  while (!r.done)
    uv_run(e->loop, UV_RUN_ONCE);
  ASSERT_EQ(r.status, 0);
  e->sb = NULL;
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot();
  char url[600];
  env_t e;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  memset(&e, 0, sizeof(e));
  e.loop = &loop;

  /* The asynchronous API on a local: client, then on an http:// one. */
  e.c = lt_client(&loop, root, NOX_ISOLATION_NONE);
  run_client_rows(&e, async_rows, sizeof(async_rows) / sizeof(async_rows[0]));
  check_closing(e.c);
  {
    nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", nox_test_unused_port());
    o.base_url = url;
    ASSERT_EQ(nox_client_new(&e.c, &loop, &o), 0);
    run_client_rows(&e, async_rows,
                    sizeof(async_rows) / sizeof(async_rows[0]));
    check_closing(e.c);
  }

  /* The fleet layer (handles, fan-outs), then the blocking wrapper. */
  e.c = lt_client(&loop, root, NOX_ISOLATION_NONE);
  run_fleet_rows(&e);
  {
    nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
    snprintf(url, sizeof(url), "local://%s", root);
    o.base_url = url;
    o.isolation = NOX_ISOLATION_NONE;
    ASSERT_EQ(nox_sync_new(&e.s, &o), 0);
  }
  run_sync_rows(&e);
  check_lifetime(&e);
  nox_sync_free(e.s);
  lt_close(e.c);

  /* No refused call ever called back. */
  ASSERT_EQ(callbacks, 0);
  ASSERT_LOOP_CLOSES(&loop);
  lt_rmroot(root);
  return 0;
}
