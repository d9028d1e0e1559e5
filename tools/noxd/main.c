/*
 * noxd --listen HOST:PORT --root DIR [--isolation auto|bwrap|none]
 *      [--token SECRET] [--max-body BYTES] [--max-execs N]
 *      [--max-output BYTES] [--auto-create] ...
 *
 * Serves the NoxRunner protocol from sandboxes kept under DIR. Prints
 * "noxd listening on http://HOST:PORT" as its first stdout line (PORT 0
 * picks a free port), logs one line per request to stderr, and shuts down
 * cleanly on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "noxd.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: noxd --root DIR [--listen HOST:PORT] "
          "[--isolation auto|bwrap|none]\n"
          "            [--token SECRET] [--max-body BYTES] [--max-execs N]\n"
          "            [--header-timeout S] [--body-timeout S] "
          "[--min-upload-rate BYTES]\n"
          "            [--max-sandboxes N] [--max-pids N] "
          "[--max-output BYTES] [--auto-create]\n"
          "  --listen     address to serve on (default %s; port 0 picks "
          "one)\n"
          "  --root       directory holding the sandboxes\n"
          "  --isolation  how commands are isolated (default auto)\n"
          "  --token      require \"Authorization: Bearer SECRET\" "
          "(not on /healthz)\n"
          "  --max-body   largest JSON request body (default %zu)\n"
          "  --max-execs  commands running at once; past it 503 with "
          "Retry-After (default %u)\n"
          "  --header-timeout  seconds a new connection has to send its "
          "request headers (default %u)\n"
          "  --body-timeout    seconds a JSON request body may take "
          "(default %u)\n"
          "  --min-upload-rate bytes/s an upload body must average "
          "(default %u)\n"
          "  --max-sandboxes   live sandboxes at once; creating another is "
          "503 with\n"
          "                    Retry-After: %s (default: no limit)\n"
          "  --max-pids        processes and threads of one sandbox's "
          "commands together,\n"
          "                    enforced with a pids cgroup where one can be "
          "made (default 1024)\n"
          "  --max-output      bytes kept of each of a command's stdout and "
          "stderr; past it\n"
          "                    the rest is dropped and the answer says "
          "\"stdoutTruncated\": true\n"
          "                    (or stderrTruncated) (default %zu)\n"
          "  --auto-create     exec on an unknown sandbox creates it "
          "(default TTL) and runs\n"
          "                    there, as the Python client's local mode "
          "does; without it\n"
          "                    such an exec is 404, as for upload, download "
          "and touch\n",
          NOXD_DEFAULT_LISTEN, NOXD_DEFAULT_MAX_BODY, NOXD_DEFAULT_MAX_EXECS,
          NOXD_DEFAULT_HEADER_TIMEOUT_S, NOXD_DEFAULT_BODY_TIMEOUT_S,
          NOXD_DEFAULT_MIN_UPLOAD_RATE, NOXD_RETRY_AFTER_SANDBOXES,
          NOXD_DEFAULT_MAX_OUTPUT);
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v == 0 || s[0] == '-' ||
      v > SIZE_MAX / 2)
    return -1;
  *out = (size_t)v;
  return 0;
}

/* The local backend takes "local:///abs/path": make --root absolute. */
static char *absolute_root(const char *root) {
  if (root[0] == '/')
    return strdup(root);
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == NULL)
    return NULL;
  size_t n = strlen(cwd) + strlen(root) + 2;
  char *out = malloc(n);
  if (out != NULL)
    snprintf(out, n, "%s/%s", cwd, root);
  return out;
}

static const struct option longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"root", required_argument, NULL, 'r'},
    {"isolation", required_argument, NULL, 'i'},
    {"token", required_argument, NULL, 't'},
    {"max-body", required_argument, NULL, 'm'},
    {"max-execs", required_argument, NULL, 'x'},
    {"header-timeout", required_argument, NULL, 'H'},
    {"body-timeout", required_argument, NULL, 'B'},
    {"min-upload-rate", required_argument, NULL, 'R'},
    {"max-sandboxes", required_argument, NULL, 'S'},
    {"max-pids", required_argument, NULL, 'P'},
    {"max-output", required_argument, NULL, 'O'},
    {"auto-create", no_argument, NULL, 'a'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* The option a count belongs to: its field of cfg, and its name. */
static unsigned *count_field(noxd_config_t *cfg, int opt, const char **name) {
  switch (opt) {
  case 'x':
    *name = "max-execs";
    return &cfg->max_execs;
  case 'H':
    *name = "header-timeout";
    return &cfg->header_timeout_s;
  case 'B':
    *name = "body-timeout";
    return &cfg->body_timeout_s;
  case 'S':
    *name = "max-sandboxes";
    return &cfg->max_sandboxes;
  case 'P':
    *name = "max-pids";
    return &cfg->max_pids;
  case 'R':
    *name = "min-upload-rate";
    return &cfg->min_upload_rate;
  default:
    return NULL;
  }
}

/* A positive count (up to 10^9) for the option opt. 0, or 2 when bad. */
static int parse_count(noxd_config_t *cfg, int opt, const char *arg) {
  const char *name = "";
  unsigned *field = count_field(cfg, opt, &name);
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0' || v == 0 || v > 1000000000ul) {
    fprintf(stderr, "noxd: --%s must be a positive number\n", name);
    return 2;
  }
  *field = (unsigned)v;
  return 0;
}

static int parse_isolation(noxd_config_t *cfg, const char *arg) {
  if (strcmp(arg, "auto") == 0)
    cfg->isolation = NOX_ISOLATION_AUTO;
  else if (strcmp(arg, "bwrap") == 0)
    cfg->isolation = NOX_ISOLATION_BWRAP;
  else if (strcmp(arg, "none") == 0)
    cfg->isolation = NOX_ISOLATION_NONE;
  else {
    fprintf(stderr, "noxd: --isolation must be auto, bwrap or none\n");
    return 2;
  }
  return 0;
}

/* One option into cfg. 0 to go on, else the exit status (-1: exit 0). */
static int parse_option(noxd_config_t *cfg, int opt, const char *arg) {
  switch (opt) {
  case 'l':
    cfg->listen = arg;
    return 0;
  case 'r':
    cfg->root = arg;
    return 0;
  case 'i':
    return parse_isolation(cfg, arg);
  case 't':
    if (arg[0] == '\0') {
      fprintf(stderr, "noxd: --token must not be empty\n");
      return 2;
    }
    cfg->token = arg;
    return 0;
  case 'm':
  case 'O':
    if (parse_size(arg, opt == 'm' ? &cfg->max_body : &cfg->max_output) != 0) {
      fprintf(stderr, "noxd: --%s must be a positive byte count\n",
              opt == 'm' ? "max-body" : "max-output");
      return 2;
    }
    return 0;
  case 'x':
  case 'H':
  case 'B':
  case 'R':
  case 'S':
  case 'P':
    return parse_count(cfg, opt, arg);
  case 'a':
    cfg->auto_create = true;
    return 0;
  case 'h':
    usage(stdout);
    return -1;
  default:
    usage(stderr);
    return 2;
  }
}

/* The command line into cfg. 0 to go on, else the exit status (-1: 0). */
static int parse_args(noxd_config_t *cfg, int argc, char **argv) {
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int rc = parse_option(cfg, opt, optarg);
    if (rc != 0)
      return rc;
  }
  if (optind != argc || cfg->root == NULL || cfg->root[0] == '\0') {
    usage(stderr);
    return 2;
  }
  return 0;
}

/* Serves until a signal stops the server. Returns the exit status. */
static int serve(const noxd_config_t *cfg) {
  /* Writes to a client that went away must fail, not kill the server. */
  signal(SIGPIPE, SIG_IGN);
  if (nox_library_init() != 0) {
    fprintf(stderr, "noxd: library initialisation failed\n");
    return 1;
  }
  int status = 0;
  uv_loop_t loop;
  noxd_server_t srv;
  uv_loop_init(&loop);
  if (noxd_server_start(&srv, &loop, cfg) == 0) {
    printf("noxd listening on http://%s:%u\n", srv.host, srv.port);
    fflush(stdout);
  } else {
    status = 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (rc != 0) {
    fprintf(stderr, "noxd: loop did not close: %s\n", uv_strerror(rc));
    status = 1;
  }
  nox_library_cleanup();
  return status;
}

int main(int argc, char **argv) {
  noxd_config_t cfg = {NOXD_DEFAULT_LISTEN,
                       NULL,
                       NOX_ISOLATION_AUTO,
                       NULL,
                       NOXD_DEFAULT_MAX_BODY,
                       NOXD_DEFAULT_MAX_EXECS,
                       NOXD_DEFAULT_HEADER_TIMEOUT_S,
                       NOXD_DEFAULT_BODY_TIMEOUT_S,
                       NOXD_DEFAULT_MIN_UPLOAD_RATE,
                       0,
                       0,
                       NOXD_DEFAULT_MAX_OUTPUT,
                       false};
  int rc = parse_args(&cfg, argc, argv);
  if (rc != 0)
    return rc < 0 ? 0 : rc;
  char *root = absolute_root(cfg.root);
  if (root == NULL) {
    fprintf(stderr, "noxd: cannot resolve --root: %s\n", strerror(errno));
    return 1;
  }
  cfg.root = root;
  rc = serve(&cfg);
  free(root);
  return rc;
}
