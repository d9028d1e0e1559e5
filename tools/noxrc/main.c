/*
 * noxrc [global options] COMMAND [options] ARGS
 *
 * The command-line client: one uv loop and one nox_client_t, every
 * subcommand a few requests on the public async API. Ctrl-C is a
 * uv_signal_t that cancels the running request.
 */
#include <stdlib.h>
#include <string.h>

#include "noxrc.h"

#define DEFAULT_BASE_URL "http://127.0.0.1:8080"

typedef struct {
  const char *name;
  int (*run)(noxrc_t *rc, int argc, char **argv);
} command_t;

static const command_t commands[] = {
    {"health", noxrc_cmd_health}, {"create", noxrc_cmd_create},
    {"exec", noxrc_cmd_exec},     {"sh", noxrc_cmd_sh},
    {"upload", noxrc_cmd_upload}, {"download", noxrc_cmd_download},
    {"touch", noxrc_cmd_touch},   {"delete", noxrc_cmd_delete},
    {"shell", noxrc_cmd_shell},   {NULL, NULL}};

const char *noxrc_base_url(void) {
  const char *env = getenv("NOXRUNNER_BASE_URL");

  if (noxrc_g.base_url != NULL)
    return noxrc_g.base_url;
  if (noxrc_g.local_test)
    return "local:";
  if (env != NULL && env[0] != '\0')
    return env;
  return DEFAULT_BASE_URL;
}

static void on_sigint(uv_signal_t *h, int signum) {
  noxrc_t *rc = h->data;

  if (rc->on_sigint != NULL) {
    rc->on_sigint(rc);
    return;
  }
  rc->interrupted = 1;
  if (rc->current != NULL)
    nox_req_cancel(rc->current);
}

int noxrc_connect(noxrc_t *rc) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  const char *token = noxrc_g.token;
  if (token == NULL)
    token = getenv("NOXRUNNER_TOKEN");
  opts.base_url = noxrc_base_url();
  opts.token = token != NULL && token[0] != '\0' ? token : NULL;
  /*
   * --timeout bounds every request: an exec's HTTP deadline is its own
   * --timeout-seconds plus this much grace for the way there and back.
   */
  if (noxrc_g.timeout_s != 0) {
    uint32_t ms = noxrc_g.timeout_s < UINT32_MAX / 1000u
                      ? noxrc_g.timeout_s * 1000u
                      : UINT32_MAX;

    opts.request_timeout_ms = ms;
    opts.exec_grace_ms = ms;
  }
  opts.user_agent = "noxrc/" NOX_VERSION_STRING;
  int err = nox_client_new(&rc->client, &rc->loop, &opts);
  if (err != 0) {
    if (err == NOX_EUNSUPPORTED || err == NOX_EINVAL)
      return noxrc_usage_error(NULL,
                               "cannot use base URL '%s': %s — use "
                               "http://, https://, local: or local:///DIR",
                               opts.base_url, nox_strerror(err));
    noxrc_fail("cannot make a client for %s: %s", opts.base_url,
               nox_strerror(err));
    return NOXRC_EXIT_FAILED;
  }
  noxrc_verbose("backend %s", opts.base_url);
  uv_signal_init(&rc->loop, &rc->sigint);
  rc->sigint.data = rc;
  uv_signal_start(&rc->sigint, on_sigint, SIGINT);
  return 0;
}

int noxrc_connect_session(noxrc_t *rc, int err, noxrc_strv_t *pos) {
  if (err == 0)
    err = noxrc_connect(rc);
  if (err == 0)
    rc->session = pos->v[0];
  noxrc_strv_free(pos);
  return err;
}

void noxrc_finish(noxrc_t *rc, int exit_code) {
  if (rc->finished)
    return;
  rc->finished = 1;
  rc->exit_code = exit_code;
  rc->current = NULL;
  if (rc->client != NULL) {
    nox_client_close(rc->client, NULL, NULL);
    uv_close((uv_handle_t *)&rc->sigint, NULL);
  }
}

int main(int argc, char **argv) {
  noxrc_t rc;
  memset(&rc, 0, sizeof(rc));
  noxrc_output_init();
  int next = 0;
  int code = noxrc_args_global(argc - 1, argv + 1, &next);
  if (code != 0)
    return code;
  next++;
  if (noxrc_g.version) {
    printf("noxrc %s (libnoxrunner %s)\n", NOX_VERSION_STRING,
           NOX_VERSION_STRING);
    return 0;
  }
  if (next >= argc) {
    if (noxrc_g.help) {
      noxrc_args_global_help(stdout);
      return 0;
    }
    noxrc_args_global_help(stderr);
    return NOXRC_EXIT_USAGE;
  }
  const command_t *c;
  for (c = commands; c->name != NULL; c++)
    if (strcmp(c->name, argv[next]) == 0)
      break;
  if (c->name == NULL)
    return noxrc_usage_error(NULL, "unknown command '%s'", argv[next]);
  rc.cmd = c->name;

  if (uv_loop_init(&rc.loop) != 0 || nox_library_init() != 0) {
    fprintf(stderr, "noxrc: cannot initialise the event loop\n");
    return NOXRC_EXIT_FAILED;
  }
  code = c->run(&rc, argc - next - 1, argv + next + 1);
  if (code == NOXRC_RUNNING) {
    uv_run(&rc.loop, UV_RUN_DEFAULT);
    code = rc.exit_code;
  } else if (code == NOXRC_HELP) {
    code = 0;
  }
  /* A command that failed before starting may still hold the client. */
  noxrc_finish(&rc, code);
  uv_run(&rc.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&rc.loop) != 0)
    fprintf(stderr, "noxrc: the event loop did not close cleanly\n");
  nox_library_cleanup();
  return code;
}
