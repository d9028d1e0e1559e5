/*
 * Option parsing shared by every subcommand: "--name value", "--name=value",
 * flags anywhere among the positional arguments, "--" to end options, and
 * the global options accepted after the subcommand too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "noxrc.h"

noxrc_global_t noxrc_g;

static const noxrc_argspec_t global_spec[] = {
    {"base-url", ARG_STR, &noxrc_g.base_url, "URL",
     "backend: http(s)://HOST:PORT, local: or local:///DIR "
     "(env NOXRUNNER_BASE_URL, default http://127.0.0.1:8080)"},
    {"local-test", ARG_FLAG, &noxrc_g.local_test, NULL,
     "same as --base-url local:"},
    {"timeout", ARG_U32, &noxrc_g.timeout_s, "SECONDS",
     "HTTP deadline of each request; for exec, --timeout-seconds plus "
     "SECONDS; for upload and download, the longest stall (default 30)"},
    {"token", ARG_STR, &noxrc_g.token, "SECRET",
     "bearer token (env NOXRUNNER_TOKEN)"},
    {"json", ARG_FLAG, &noxrc_g.json, NULL,
     "one JSON object per command on stdout"},
    {"verbose", ARG_FLAG, &noxrc_g.verbose, NULL,
     "say what is sent and how it went"},
    {"quiet", ARG_FLAG, &noxrc_g.quiet, NULL, "only errors"},
    {"progress", ARG_FLAG, &noxrc_g.progress, NULL,
     "show upload/download progress even when stderr is not a terminal "
     "(one line per frame; never with --quiet or --json)"},
    {"version", ARG_FLAG, &noxrc_g.version, NULL, "print the version"},
    {"help", ARG_FLAG, &noxrc_g.help, NULL, "this help"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

int noxrc_strv_push(noxrc_strv_t *sv, const char *s) {
  const char **v = realloc(sv->v, (sv->n + 2) * sizeof(*v));

  if (v == NULL)
    return -1;
  v[sv->n++] = s;
  v[sv->n] = NULL;
  sv->v = v;
  return 0;
}

void noxrc_strv_free(noxrc_strv_t *sv) {
  free(sv->v);
  sv->v = NULL;
  sv->n = 0;
}

static const noxrc_argspec_t *find(const noxrc_argspec_t *spec,
                                   const char *name, size_t len) {
  for (; spec != NULL && spec->name != NULL; spec++)
    if (strlen(spec->name) == len && memcmp(spec->name, name, len) == 0)
      return spec;
  return NULL;
}

static int store(const char *cmd, const noxrc_argspec_t *o, const char *val) {
  char *end;
  unsigned long n;

  switch (o->kind) {
  case ARG_FLAG:
    *(int *)o->dest = 1;
    return 0;
  case ARG_STR:
    *(const char **)o->dest = val;
    return 0;
  case ARG_LIST:
    if (noxrc_strv_push(o->dest, val) != 0)
      return noxrc_usage_error(cmd, "out of memory");
    return 0;
  case ARG_U32:
    errno = 0;
    n = strtoul(val, &end, 10);
    if (val[0] < '0' || val[0] > '9' || *end != '\0' || errno != 0 || n == 0 ||
        n > UINT32_MAX)
      return noxrc_usage_error(
          cmd, "--%s wants a positive whole number, not '%s'", o->name, val);
    *(uint32_t *)o->dest = (uint32_t)n;
    return 0;
  }
  return 0;
}

/*
 * The one loop behind both entry points. With cmd NULL (the global options
 * before the subcommand) it stops at the first positional argument and
 * leaves its index in *next.
 */
static int parse(const noxrc_cmdspec_t *cmd, int argc, char **argv,
                 noxrc_strv_t *pos, int *next) {
  const char *name = cmd != NULL ? cmd->name : NULL;
  int options = 1;
  int i;

  for (i = 0; i < argc; i++) {
    const char *a = argv[i];
    const noxrc_argspec_t *o;
    const char *eq;
    size_t len;
    int rc;

    if (options && cmd != NULL && cmd->stop_at_pos != 0 &&
        (int)pos->n >= cmd->stop_at_pos)
      options = 0;
    if (!options || a[0] != '-' || a[1] == '\0') {
      if (cmd == NULL) {
        *next = i;
        return 0;
      }
      if (noxrc_strv_push(pos, a) != 0)
        return noxrc_usage_error(name, "out of memory");
      continue;
    }
    if (strcmp(a, "--") == 0) {
      options = 0;
      continue;
    }
    if (strcmp(a, "-h") == 0)
      a = "--help";
    if (a[1] != '-')
      return noxrc_usage_error(name, "unknown option '%s'", a);
    a += 2;
    eq = strchr(a, '=');
    len = eq != NULL ? (size_t)(eq - a) : strlen(a);
    o = find(cmd != NULL ? cmd->spec : NULL, a, len);
    if (o == NULL)
      o = find(global_spec, a, len);
    if (o == NULL)
      return noxrc_usage_error(name, "unknown option '--%.*s'", (int)len, a);
    if (o->kind == ARG_FLAG) {
      if (eq != NULL)
        return noxrc_usage_error(name, "--%s takes no value", o->name);
      rc = store(name, o, NULL);
    } else if (eq != NULL) {
      rc = store(name, o, eq + 1);
    } else if (i + 1 < argc) {
      rc = store(name, o, argv[++i]);
    } else {
      return noxrc_usage_error(name, "--%s needs a value (%s)", o->name,
                               o->metavar);
    }
    if (rc != 0)
      return rc;
  }
  *next = argc;
  return 0;
}

int noxrc_args_ids(const char *cmd, const noxrc_strv_t *pos, size_t nids) {
  if (pos->n < nids)
    return noxrc_usage_error(cmd, "missing the session ID");
  if (pos->n > nids)
    return noxrc_usage_error(cmd, "unexpected argument '%s'", pos->v[nids]);
  if (nids == 1 && pos->v[0][0] == '\0')
    return noxrc_usage_error(cmd, "the session ID is empty");
  return 0;
}

int noxrc_args_parse(const noxrc_cmdspec_t *cmd, int argc, char **argv,
                     noxrc_strv_t *pos) {
  int next;
  int rc = parse(cmd, argc, argv, pos, &next);

  if (rc == 0 && noxrc_g.help) {
    noxrc_args_help(stdout, cmd);
    return NOXRC_HELP;
  }
  return rc;
}

int noxrc_args_global(int argc, char **argv, int *next) {
  return parse(NULL, argc, argv, NULL, next);
}

static void print_options(FILE *f, const noxrc_argspec_t *o) {
  for (; o->name != NULL; o++) {
    char left[64];

    if (o->metavar != NULL)
      snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar);
    else
      snprintf(left, sizeof(left), "--%s", o->name);
    fprintf(f, "  %-26s %s\n", left, o->help);
  }
}

void noxrc_args_help(FILE *f, const noxrc_cmdspec_t *cmd) {
  fprintf(f, "usage: noxrc %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->about);
  if (cmd->spec != NULL && cmd->spec[0].name != NULL) {
    fprintf(f, "\noptions (before or after the session id):\n");
    print_options(f, cmd->spec);
  }
  fprintf(f, "\nglobal options (anywhere):\n");
  print_options(f, global_spec);
}

void noxrc_args_global_help(FILE *f) {
  fprintf(f, "usage: noxrc [global options] COMMAND [options] ARGS\n\n"
             "Drives NoxRunner sandbox backends (HTTP, or the in-process local "
             "backend).\n\n"
             "commands:\n"
             "  health                   is the backend up?\n"
             "  create ID                create a sandbox (or make sure it "
             "exists)\n"
             "  exec ID [--] CMD...      run a command; exits with its exit "
             "code\n"
             "  sh ID 'SCRIPT'           run a shell string (sh -c, or bash "
             "with --bash)\n"
             "  upload ID FILES...       upload files or a --dir tree\n"
             "  download ID              download --src as a tar.gz or "
             "--extract it\n"
             "  touch ID                 reset the sandbox's TTL\n"
             "  delete ID                delete the sandbox\n"
             "  shell ID                 interactive prompt in the sandbox\n\n"
             "global options:\n");
  print_options(f, global_spec);
  fprintf(f, "\nexit codes: 0 success; exec/sh: the command's own; "
             "1 failed; 2 bad usage; 130 Ctrl-C.\n"
             "Run 'noxrc COMMAND --help' for a command's options.\n");
}
