/* health, create (with --wait), touch and delete. */
#include <string.h>

#include "noxrc.h"

static struct {
  uint32_t ttl;
  const char *image;
  const char *cpu;
  const char *mem;
  const char *storage;
  int wait;
  uint32_t wait_timeout;
} create_opts = {900, NULL, NULL, NULL, NULL, 0, 30};

static const noxrc_argspec_t create_spec[] = {
    {"ttl", ARG_U32, &create_opts.ttl, "SECONDS",
     "idle time before the sandbox expires (default 900)"},
    {"image", ARG_STR, &create_opts.image, "IMAGE", "container image"},
    {"cpu", ARG_STR, &create_opts.cpu, "LIMIT", "CPU limit, e.g. 1 or 500m"},
    {"mem", ARG_STR, &create_opts.mem, "LIMIT", "memory limit, e.g. 512Mi"},
    {"storage", ARG_STR, &create_opts.storage, "LIMIT",
     "ephemeral storage limit, e.g. 1Gi"},
    {"wait", ARG_FLAG, &create_opts.wait, NULL,
     "wait until the sandbox runs commands"},
    {"wait-timeout", ARG_U32, &create_opts.wait_timeout, "SECONDS",
     "how long --wait waits (default 30)"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_argspec_t no_spec[] = {{NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_cmdspec_t health_cmd = {
    "health", "", "Asks the backend whether it is healthy (exit 1 if not).",
    no_spec, 0};
static const noxrc_cmdspec_t create_cmd = {
    "create", "ID [options]",
    "Creates sandbox ID, or makes sure it exists (idempotent).", create_spec,
    0};
static const noxrc_cmdspec_t touch_cmd = {
    "touch", "ID", "Resets the sandbox's TTL.", no_spec, 0};
static const noxrc_cmdspec_t delete_cmd = {
    "delete", "ID", "Deletes the sandbox and its files.", no_spec, 0};

/* Parses "CMD ID" style arguments; returns 0 or an exit code. */
static int parse_id(noxrc_t *rc, const noxrc_cmdspec_t *cmd, int argc,
                    char **argv, size_t npos) {
  noxrc_strv_t pos = {NULL, 0};
  int err = noxrc_args_parse(cmd, argc, argv, &pos);

  if (err == 0)
    err = noxrc_args_ids(cmd->name, &pos, npos);
  if (err == 0 && npos == 1)
    rc->session = pos.v[0];
  noxrc_strv_free(&pos);
  if (err == 0)
    err = noxrc_connect(rc);
  return err;
}

/* Ends a command on a request's outcome: the ✓ line is the caller's. */
static int failed(noxrc_t *rc, const char *what, nox_req_t *req, int status) {
  rc->current = NULL;
  if (status == 0)
    return 0;
  noxrc_finish(rc, noxrc_report_error(rc, what, req, status));
  return 1;
}

static void json_simple(const char *key, const char *val) {
  noxrc_json_t *j;

  if (!noxrc_g.json)
    return;
  j = noxrc_json_begin(1);
  noxrc_json_str(j, key, val);
  noxrc_json_end(j);
}

/* ---- health ---------------------------------------------------------- */

static void on_health(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);

  if (failed(rc, "health check", req, status))
    return;
  noxrc_ok("backend %s is healthy", noxrc_base_url());
  if (noxrc_g.json) {
    noxrc_json_t *j = noxrc_json_begin(1);

    noxrc_json_bool(j, "healthy", 1);
    noxrc_json_str(j, "baseUrl", noxrc_base_url());
    noxrc_json_end(j);
  }
  noxrc_finish(rc, 0);
}

int noxrc_cmd_health(noxrc_t *rc, int argc, char **argv) {
  int err = parse_id(rc, &health_cmd, argc, argv, 0);

  if (err != 0)
    return err;
  err = nox_health(&rc->current, rc->client, on_health, rc);
  return err != 0 ? noxrc_report_error(rc, "health check", NULL, err)
                  : NOXRC_RUNNING;
}

/* ---- create ---------------------------------------------------------- */

static char pod_name[256];
static char expires_at[64];

static void created_json(int ready) {
  noxrc_json_t *j;

  if (!noxrc_g.json)
    return;
  j = noxrc_json_begin(1);
  noxrc_json_str(j, "podName", pod_name);
  noxrc_json_str(j, "expiresAt", expires_at);
  if (create_opts.wait)
    noxrc_json_bool(j, "ready", ready);
  noxrc_json_end(j);
}

static void on_ready(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);

  if (failed(rc, "wait for the sandbox", req, status))
    return;
  noxrc_ok("sandbox %s is ready", rc->session);
  created_json(1);
  noxrc_finish(rc, 0);
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  noxrc_t *rc = nox_req_data(req);
  nox_wait_options_t w = NOX_WAIT_OPTIONS_INIT;
  int err;

  if (failed(rc, "create sandbox", req, status))
    return;
  snprintf(pod_name, sizeof(pod_name), "%s", info->pod_name);
  snprintf(expires_at, sizeof(expires_at), "%s", info->expires_at);
  noxrc_ok("sandbox %s created (pod %s, expires %s)", rc->session,
           pod_name[0] != '\0' ? pod_name : "-",
           expires_at[0] != '\0' ? expires_at : "-");
  if (!create_opts.wait) {
    created_json(0);
    noxrc_finish(rc, 0);
    return;
  }
  w.timeout_ms = create_opts.wait_timeout * 1000u;
  /* The reference client polls every 2 s; a short sandbox start needs less. */
  w.interval_ms = 500;
  noxrc_verbose("waiting up to %u s for %s", (unsigned)create_opts.wait_timeout,
                rc->session);
  err = nox_wait_ready(&rc->current, rc->client, rc->session, &w, on_ready, rc);
  if (err != 0)
    noxrc_finish(rc, noxrc_report_error(rc, "wait for the sandbox", NULL, err));
}

int noxrc_cmd_create(noxrc_t *rc, int argc, char **argv) {
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  int err = parse_id(rc, &create_cmd, argc, argv, 1);

  if (err != 0)
    return err;
  o.ttl_seconds = create_opts.ttl;
  o.image = create_opts.image;
  o.cpu_limit = create_opts.cpu;
  o.memory_limit = create_opts.mem;
  o.ephemeral_storage_limit = create_opts.storage;
  noxrc_verbose("create %s (ttl %u s)", rc->session, (unsigned)o.ttl_seconds);
  err = nox_create(&rc->current, rc->client, rc->session, &o, on_created, rc);
  return err != 0 ? noxrc_report_error(rc, "create sandbox", NULL, err)
                  : NOXRC_RUNNING;
}

/* ---- touch and delete ------------------------------------------------ */

static void on_touched(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);

  if (failed(rc, "touch sandbox", req, status))
    return;
  noxrc_ok("sandbox %s touched", rc->session);
  json_simple("sessionId", rc->session);
  noxrc_finish(rc, 0);
}

int noxrc_cmd_touch(noxrc_t *rc, int argc, char **argv) {
  int err = parse_id(rc, &touch_cmd, argc, argv, 1);

  if (err != 0)
    return err;
  err = nox_touch(&rc->current, rc->client, rc->session, on_touched, rc);
  return err != 0 ? noxrc_report_error(rc, "touch sandbox", NULL, err)
                  : NOXRC_RUNNING;
}

static void on_deleted(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);

  if (failed(rc, "delete sandbox", req, status))
    return;
  noxrc_ok("sandbox %s deleted", rc->session);
  json_simple("sessionId", rc->session);
  noxrc_finish(rc, 0);
}

int noxrc_cmd_delete(noxrc_t *rc, int argc, char **argv) {
  int err = parse_id(rc, &delete_cmd, argc, argv, 1);

  if (err != 0)
    return err;
  err = nox_delete(&rc->current, rc->client, rc->session, on_deleted, rc);
  return err != 0 ? noxrc_report_error(rc, "delete sandbox", NULL, err)
                  : NOXRC_RUNNING;
}
