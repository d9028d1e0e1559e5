/* exec and sh: run a command, hand its bytes and exit code through. */
#include <string.h>
#include <unistd.h>

#include "noxrc.h"

static struct {
  const char *workdir;
  noxrc_strv_t env;
  uint32_t timeout_s;
  int ignore_exit;
  int bash;
} o = {NULL, {NULL, 0}, 30, 0, 0};

#define EXEC_OPTIONS                                                           \
  {"workdir", ARG_STR, &o.workdir, "DIR",                                      \
   "working directory (default /workspace)"},                                  \
      {"env", ARG_LIST, &o.env, "K=V", "set a variable (repeatable)"},         \
      {"timeout-seconds", ARG_U32, &o.timeout_s, "N",                          \
       "the command's time limit; exit code 124 past it (default 30)"},        \
  {                                                                            \
    "ignore-exit-code", ARG_FLAG, &o.ignore_exit, NULL,                        \
        "exit 0 whatever the command's exit code"                              \
  }

static const noxrc_argspec_t exec_spec[] = {EXEC_OPTIONS,
                                            {NULL, ARG_FLAG, NULL, NULL, NULL}};
static const noxrc_argspec_t sh_spec[] = {
    EXEC_OPTIONS,
    {"bash", ARG_FLAG, &o.bash, NULL, "run the script with bash, not sh"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_cmdspec_t exec_cmd = {
    "exec", "ID [options] [--] CMD [ARGS...]",
    "Runs CMD in the sandbox. Its stdout and stderr become ours byte for "
    "byte,\nand noxrc exits with its exit code. Options end at CMD's first "
    "word (or at --),\nso CMD's own flags pass through.",
    exec_spec, 2};
static const noxrc_cmdspec_t sh_cmd = {
    "sh", "ID [options] 'SCRIPT'",
    "Runs SCRIPT with sh -c (or bash -c with --bash), like exec.", sh_spec, 0};

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *res) {
  noxrc_t *rc = nox_req_data(req);
  int code;

  rc->current = NULL;
  if (status != 0) {
    noxrc_finish(rc, noxrc_report_error(rc, "exec", req, status));
    return;
  }
  noxrc_verbose("exit code %d after %lld ms", res->exit_code,
                (long long)res->duration_ms);
  if (noxrc_g.json) {
    noxrc_json_t *j = noxrc_json_begin(1);

    noxrc_json_int(j, "exitCode", res->exit_code);
    noxrc_json_bytes(j, "stdout", res->out, res->out_len);
    noxrc_json_bytes(j, "stderr", res->err, res->err_len);
    if (res->duration_ms >= 0)
      noxrc_json_int(j, "durationMs", res->duration_ms);
    else
      noxrc_json_null(j, "durationMs");
    noxrc_json_bool(j, "stdoutTruncated", res->out_truncated);
    noxrc_json_bool(j, "stderrTruncated", res->err_truncated);
    noxrc_json_end(j);
  } else {
    fflush(stdout);
    if (noxrc_write_all(STDOUT_FILENO, res->out, res->out_len) != 0 ||
        noxrc_write_all(STDERR_FILENO, res->err, res->err_len) != 0) {
      noxrc_finish(rc, NOXRC_EXIT_FAILED);
      return;
    }
    /*
     * Lost output is worth a line even to scripts (the bytes themselves are
     * never touched); --quiet silences it.
     */
    if (res->out_truncated)
      noxrc_warn("stdout truncated after %zu bytes by the backend",
                 res->out_len);
    if (res->err_truncated)
      noxrc_warn("stderr truncated after %zu bytes by the backend",
                 res->err_len);
    /* Only on a terminal: scripts get the command's stderr untouched. */
    if (res->exit_code == 124 && noxrc_stderr_tty())
      noxrc_warn("the command hit its %u s limit (--timeout-seconds)",
                 (unsigned)o.timeout_s);
  }
  code = o.ignore_exit ? 0 : res->exit_code;
  noxrc_finish(rc, code);
}

static int start(noxrc_t *rc, const noxrc_cmdspec_t *cmd, int argc,
                 char **argv) {
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  noxrc_strv_t pos = {NULL, 0};
  size_t i;
  int err = noxrc_args_parse(cmd, argc, argv, &pos);

  if (err == 0 && pos.n == 0)
    err = noxrc_usage_error(cmd->name, "missing the session ID");
  else if (err == 0 && pos.n == 1)
    err = noxrc_usage_error(cmd->name, cmd == &sh_cmd
                                           ? "missing the script"
                                           : "missing the command to run");
  else if (err == 0 && cmd == &sh_cmd && pos.n > 2)
    err = noxrc_usage_error(
        cmd->name, "unexpected argument '%s' (quote the script)", pos.v[2]);
  else if (err == 0 && pos.v[0][0] == '\0')
    err = noxrc_usage_error(cmd->name, "the session ID is empty");
  for (i = 0; err == 0 && i < o.env.n; i++)
    if (strchr(o.env.v[i], '=') == NULL || o.env.v[i][0] == '=')
      err = noxrc_usage_error(cmd->name, "--env wants NAME=VALUE, not '%s'",
                              o.env.v[i]);
  if (err == 0)
    err = noxrc_connect(rc);
  if (err != 0) {
    noxrc_strv_free(&pos);
    noxrc_strv_free(&o.env);
    return err;
  }
  rc->session = pos.v[0];
  eo.workdir = o.workdir;
  eo.env = o.env.v;
  eo.timeout_seconds = o.timeout_s;
  if (cmd == &sh_cmd) {
    noxrc_verbose("%s -c on %s: %s", o.bash ? "bash" : "sh", rc->session,
                  pos.v[1]);
    err = nox_exec_shell(&rc->current, rc->client, rc->session,
                         o.bash ? "bash" : "sh", pos.v[1], &eo, on_exec, rc);
  } else {
    noxrc_verbose("exec on %s: %s (%zu words)", rc->session, pos.v[1],
                  pos.n - 1);
    err = nox_exec(&rc->current, rc->client, rc->session,
                   (const char *const *)pos.v + 1, &eo, on_exec, rc);
  }
  /* The library copied argv and env. */
  noxrc_strv_free(&pos);
  noxrc_strv_free(&o.env);
  if (err == NOX_EINVAL)
    return noxrc_usage_error(cmd->name,
                             "the command, --env or --workdir is not valid "
                             "UTF-8, or too long (%s)",
                             nox_client_last_error(rc->client)->message);
  return err != 0 ? noxrc_report_error(rc, "exec", NULL, err) : NOXRC_RUNNING;
}

int noxrc_cmd_exec(noxrc_t *rc, int argc, char **argv) {
  return start(rc, &exec_cmd, argc, argv);
}

int noxrc_cmd_sh(noxrc_t *rc, int argc, char **argv) {
  return start(rc, &sh_cmd, argc, argv);
}
