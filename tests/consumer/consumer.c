/*
 * The smallest real user of an installed libnoxrunner: checks that the
 * headers and the library it was linked with agree on the version, then
 * creates a sandbox on the backend given as argv[1], runs a command in it
 * through the asynchronous API, checks the answer through the blocking one,
 * and deletes the sandbox. Exits 0 only if every step gave what it should.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner.h>
#include <noxrunner/sync.h>
#include <uv.h>

#define SESSION "consumer"
#define GREETING "hello from an installed libnoxrunner"

static int failures;

static void fail(const char *what, nox_req_t *req, int status) {
  fprintf(stderr, "consumer: %s: %s: %s\n", what, nox_err_name(status),
          req != NULL ? nox_req_error(req)->message : "");
  failures++;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  if (status != 0)
    fail("exec", req, status);
  else if (r->exit_code != 0 || strcmp(r->out, GREETING "\n") != 0) {
    fprintf(stderr, "consumer: exec gave exit %d and \"%s\"\n", r->exit_code,
            r->out);
    failures++;
  } else {
    printf("async exec: %s", r->out);
  }
  nox_client_close(nox_req_client(req), NULL, NULL);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  static const char *const argv[] = {"echo", GREETING, NULL};
  nox_client_t *c = nox_req_client(req);
  int rc;

  if (status != 0) {
    fail("create", req, status);
    nox_client_close(c, NULL, NULL);
    return;
  }
  if (info->pod_name[0] == '\0') {
    fprintf(stderr, "consumer: create gave no pod name\n");
    failures++;
  }
  rc = nox_exec(NULL, c, SESSION, argv, NULL, on_exec, NULL);
  if (rc != 0) {
    fail("exec start", NULL, rc);
    nox_client_close(c, NULL, NULL);
  }
}

static int run_async(const char *url) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *client;
  uv_loop_t loop;
  int rc;

  opts.base_url = url;
  uv_loop_init(&loop);
  rc = nox_client_new(&client, &loop, &opts);
  if (rc != 0) {
    fail("client", NULL, rc);
    uv_loop_close(&loop);
    return -1;
  }
  rc = nox_create(NULL, client, SESSION, NULL, on_create, NULL);
  if (rc != 0) {
    fail("create start", NULL, rc);
    nox_client_close(client, NULL, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "consumer: the loop still has handles\n");
    failures++;
  }
  return 0;
}

static void run_sync(const char *url) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_exec_result_t *r;
  nox_sync_t *s;
  int rc;

  opts.base_url = url;
  rc = nox_sync_new(&s, &opts);
  if (rc != 0) {
    fail("sync client", NULL, rc);
    return;
  }
  rc = nox_sync_exec_shell(&r, s, SESSION, "sh", "echo \"$((6 * 7))\"", NULL);
  if (rc != 0) {
    fprintf(stderr, "consumer: sync exec: %s: %s\n", nox_err_name(rc),
            nox_sync_last_error(s)->message);
    failures++;
  } else {
    if (strcmp(r->out, "42\n") != 0) {
      fprintf(stderr, "consumer: sync exec said \"%s\"\n", r->out);
      failures++;
    } else {
      printf("sync exec: %s", r->out);
    }
    nox_exec_result_free(r);
  }
  rc = nox_sync_delete(s, SESSION);
  if (rc != 0) {
    fprintf(stderr, "consumer: delete: %s\n", nox_err_name(rc));
    failures++;
  }
  nox_sync_free(s);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: consumer BASE_URL\n");
    return 2;
  }
  if (nox_version() != NOX_VERSION_HEX ||
      strcmp(nox_version_string(), NOX_VERSION_STRING) != 0) {
    fprintf(stderr, "consumer: built with %s, running %s\n", NOX_VERSION_STRING,
            nox_version_string());
    return 1;
  }
  printf("libnoxrunner %s\n", nox_version_string());
  if (nox_library_init() != 0)
    return 1;
  if (run_async(argv[1]) == 0)
    run_sync(argv[1]);
  nox_library_cleanup();
  return failures == 0 ? 0 : 1;
}
