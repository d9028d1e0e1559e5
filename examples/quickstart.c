/*
 * quickstart: one sandbox from birth to death with the asynchronous API.
 *
 *   quickstart [BASE_URL]
 *
 * BASE_URL defaults to "local:", the in-process backend, so no server is
 * needed; "http://127.0.0.1:8080" talks to a NoxRunner server instead.
 *
 * Nothing here blocks. main() starts the first step and runs the loop; each
 * callback starts the next step, and the last one closes the client, which
 * lets uv_run() return.
 */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include <noxrunner.h>

/* Everything the steps share; it reaches the callbacks as the user data. */
typedef struct {
  nox_client_t *client;
  char session[64];
  uint64_t step_start; /* uv_hrtime() when the current step began */
  size_t downloaded;
  int created; /* the sandbox exists and must be deleted */
  int failed;
} app_t;

static const char hello[] = "hello from libnoxrunner\n"
                            "a second line\n"
                            "and a third\n";

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info);
static void on_uploaded(nox_req_t *req, int status);
static void on_exec(nox_req_t *req, int status,
                    const nox_exec_result_t *result);
static int on_data(nox_req_t *req, const char *buf, size_t len);
static void on_downloaded(nox_req_t *req, int status);
static void on_deleted(nox_req_t *req, int status);

static double elapsed_ms(app_t *app) {
  return (double)(uv_hrtime() - app->step_start) / 1e6;
}

/* Prints a command's output indented under its step, ending the last line. */
static void print_output(const char *out, size_t len) {
  size_t i;

  for (i = 0; i < len; i++) {
    if (i == 0 || out[i - 1] == '\n')
      fputs("  | ", stdout);
    putchar(out[i]);
  }
  if (len != 0 && out[len - 1] != '\n')
    putchar('\n');
}

static void step_done(app_t *app, const char *what) {
  printf("✓ %-28s %8.1f ms\n", what, elapsed_ms(app));
  app->step_start = uv_hrtime();
}

/* Winds down after a failure without leaving the sandbox behind. */
static void finish_failed(app_t *app) {
  app->failed = 1;
  /* on_deleted closes the client once the sandbox is gone. */
  if (app->created &&
      nox_delete(NULL, app->client, app->session, on_deleted, app) == 0) {
    app->created = 0;
    return;
  }
  nox_client_close(app->client, NULL, NULL);
}

/*
 * Reports a failed step. req is NULL when the starting call itself refused
 * (its callback will then never run); otherwise the request carries the
 * detail: the server's message, the HTTP status.
 */
static void fail(app_t *app, const char *what, nox_req_t *req, int status) {
  const char *msg = req != NULL ? nox_req_error(req)->message : "";

  fprintf(stderr, "✗ %s: %s: %s\n", what, nox_err_name(status),
          msg[0] != '\0' ? msg : nox_strerror(status));
  finish_failed(app);
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  app_t *app = nox_req_data(req);
  nox_file_t file = {"hello.txt", hello, sizeof(hello) - 1, 0644};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  int rc;

  if (status != 0) {
    fail(app, "create sandbox", req, status);
    return;
  }
  app->created = 1;
  /* info is borrowed: read it here, copy what must outlive the callback. */
  step_done(app, "create sandbox");
  printf("  pod %s, expires %s\n", info->pod_name, info->expires_at);

  /* The library packs the files into a tar.gz; the array is copied. */
  up.files = &file;
  up.nfiles = 1;
  rc = nox_upload(NULL, app->client, app->session, &up, on_uploaded, app);
  if (rc != 0)
    fail(app, "upload hello.txt", NULL, rc);
}

static void on_uploaded(nox_req_t *req, int status) {
  app_t *app = nox_req_data(req);
  /* Relative to the default workdir, /workspace, where the upload went. */
  const char *const argv[] = {"cat", "hello.txt", NULL};
  int rc;

  if (status != 0) {
    fail(app, "upload hello.txt", req, status);
    return;
  }
  step_done(app, "upload hello.txt");

  rc = nox_exec(NULL, app->client, app->session, argv, NULL, on_exec, app);
  if (rc != 0)
    fail(app, "exec cat hello.txt", NULL, rc);
}

static void on_exec(nox_req_t *req, int status,
                    const nox_exec_result_t *result) {
  app_t *app = nox_req_data(req);
  int rc;

  if (status != 0) {
    fail(app, "exec cat hello.txt", req, status);
    return;
  }
  /* A non-zero exit code is the command's answer, not a library error. */
  if (result->exit_code != 0) {
    fprintf(stderr, "%.*s✗ exec cat hello.txt: exit code %d\n",
            (int)result->err_len, result->err, result->exit_code);
    finish_failed(app);
    return;
  }
  /* out is pointer + length (binary-safe); it is also NUL-terminated. */
  step_done(app, "exec cat hello.txt");
  print_output(result->out, result->out_len);

  rc = nox_download(NULL, app->client, app->session, NULL, on_data,
                    on_downloaded, app);
  if (rc != 0)
    fail(app, "download workspace", NULL, rc);
}

/* Bytes of the workspace tar.gz as they arrive; nothing is buffered. */
static int on_data(nox_req_t *req, const char *buf, size_t len) {
  app_t *app = nox_req_data(req);

  (void)buf;
  app->downloaded += len;
  return 0; /* non-zero would abort the download with NOX_EUSER */
}

static void on_downloaded(nox_req_t *req, int status) {
  app_t *app = nox_req_data(req);
  int rc;

  if (status != 0) {
    fail(app, "download workspace", req, status);
    return;
  }
  step_done(app, "download workspace");
  printf("  %zu bytes of tar.gz\n", app->downloaded);

  rc = nox_delete(NULL, app->client, app->session, on_deleted, app);
  if (rc != 0) {
    fail(app, "delete sandbox", NULL, rc);
    return;
  }
  app->created = 0;
}

static void on_deleted(nox_req_t *req, int status) {
  app_t *app = nox_req_data(req);

  if (status != 0 && !app->failed) {
    fail(app, "delete sandbox", req, status);
    return;
  }
  if (!app->failed)
    step_done(app, "delete sandbox");
  /* The last step: once the client's handles are closed, uv_run returns. */
  nox_client_close(app->client, NULL, NULL);
}

int main(int argc, char **argv) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  app_t app;
  uv_loop_t loop;
  int rc;

  memset(&app, 0, sizeof(app));
  opts.base_url = argc > 1 ? argv[1] : "local:";
  snprintf(app.session, sizeof(app.session), "quickstart-%d",
           (int)uv_os_getpid());

  /* libcurl's global state is the application's: set it up first. */
  if (nox_library_init() != 0 || uv_loop_init(&loop) != 0) {
    fprintf(stderr, "✗ initialisation failed\n");
    return 1;
  }
  rc = nox_client_new(&app.client, &loop, &opts);
  if (rc != 0) {
    fprintf(stderr, "✗ client for %s: %s: %s\n", opts.base_url,
            nox_err_name(rc), nox_strerror(rc));
    uv_loop_close(&loop);
    nox_library_cleanup();
    return 1;
  }
  printf("backend %s, sandbox %s\n", opts.base_url, app.session);

  /* The first step; the callbacks chain the rest. */
  app.step_start = uv_hrtime();
  rc = nox_create(NULL, app.client, app.session, NULL, on_created, &app);
  if (rc != 0)
    fail(&app, "create sandbox", NULL, rc);

  uv_run(&loop, UV_RUN_DEFAULT);
  /* The client closed every handle it had: the loop closes cleanly. */
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "✗ the loop still had handles\n");
    app.failed = 1;
  }
  nox_library_cleanup();
  return app.failed;
}
