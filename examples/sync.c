/*
 * sync_example: the quickstart's steps with the blocking API.
 *
 *   sync_example [BASE_URL]        (default "local:")
 *
 * A nox_sync_t hides a private loop: each call runs it until its request is
 * done, so the flow reads top to bottom. Results belong to the caller and
 * are freed with their _free function. Connections are kept between calls.
 * Use this in scripts and tools; an event-driven program wants the
 * asynchronous API of examples/quickstart.c.
 */
#include <stdio.h>

#include <uv.h>

#include <noxrunner.h>
#include <noxrunner/sync.h>

static const char hello[] = "hello from libnoxrunner\n"
                            "a second line\n"
                            "and a third\n";

static uint64_t step_start;

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

static void step_done(const char *what) {
  printf("✓ %-28s %8.1f ms\n", what, (double)(uv_hrtime() - step_start) / 1e6);
  step_start = uv_hrtime();
}

/* Every call returns 0 or a NOX_E* code; the detail is on the handle. */
static int report(nox_sync_t *s, const char *what, int rc) {
  const nox_error_t *e = nox_sync_last_error(s);

  fprintf(stderr, "✗ %s: %s: %s\n", what, nox_err_name(rc),
          e->message[0] != '\0' ? e->message : nox_strerror(rc));
  return 1;
}

/* The steps between create and delete; any failure stops them. */
static int use_sandbox(nox_sync_t *s, const char *session) {
  nox_file_t file = {"hello.txt", hello, sizeof(hello) - 1, 0644};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  const char *const argv[] = {"cat", "hello.txt", NULL};
  nox_exec_result_t *res;
  void *archive;
  size_t len;
  int rc;

  up.files = &file;
  up.nfiles = 1;
  rc = nox_sync_upload(s, session, &up);
  if (rc != 0)
    return report(s, "upload hello.txt", rc);
  step_done("upload hello.txt");

  rc = nox_sync_exec(&res, s, session, argv, NULL);
  if (rc != 0)
    return report(s, "exec cat hello.txt", rc);
  /* A non-zero exit code is the command's answer, not a library error. */
  if (res->exit_code != 0) {
    fprintf(stderr, "%s✗ exec cat hello.txt: exit code %d\n", res->err,
            res->exit_code);
    nox_exec_result_free(res);
    return 1;
  }
  step_done("exec cat hello.txt");
  print_output(res->out, res->out_len);
  nox_exec_result_free(res);

  /*
   * The whole tar.gz in memory, up to max_body_bytes (NOX_ETOOBIG past it);
   * nox_sync_download_to() streams instead.
   */
  rc = nox_sync_download(&archive, &len, s, session, NULL);
  if (rc != 0)
    return report(s, "download workspace", rc);
  step_done("download workspace");
  printf("  %zu bytes of tar.gz\n", len);
  nox_free(archive);
  return 0;
}

int main(int argc, char **argv) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_sandbox_info_t *info;
  nox_sync_t *s;
  char session[64];
  int failed;
  int rc;

  opts.base_url = argc > 1 ? argv[1] : "local:";
  snprintf(session, sizeof(session), "sync-example-%d", (int)uv_os_getpid());

  /* libcurl's global state is the application's: set it up first. */
  if (nox_library_init() != 0) {
    fprintf(stderr, "✗ initialisation failed\n");
    return 1;
  }
  rc = nox_sync_new(&s, &opts);
  if (rc != 0) {
    fprintf(stderr, "✗ client for %s: %s: %s\n", opts.base_url,
            nox_err_name(rc), nox_strerror(rc));
    nox_library_cleanup();
    return 1;
  }
  printf("backend %s, sandbox %s\n", opts.base_url, session);

  step_start = uv_hrtime();
  rc = nox_sync_create(&info, s, session, NULL);
  if (rc != 0) {
    failed = report(s, "create sandbox", rc);
  } else {
    step_done("create sandbox");
    printf("  pod %s, expires %s\n", info->pod_name, info->expires_at);
    nox_sandbox_info_free(info);

    failed = use_sandbox(s, session);
    /* Delete even after a failure, so no sandbox is left behind. */
    rc = nox_sync_delete(s, session);
    if (rc != 0)
      failed = report(s, "delete sandbox", rc);
    else if (!failed)
      step_done("delete sandbox");
  }

  /* Closes the client and its private loop, then frees the handle. */
  nox_sync_free(s);
  nox_library_cleanup();
  return failed;
}
