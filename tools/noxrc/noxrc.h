/*
 * noxrc: the command-line client. One uv loop, one nox_client_t; every
 * subcommand starts requests on the public async API and finishes with
 * noxrc_finish().
 */
#ifndef NOXRC_H
#define NOXRC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include <noxrunner.h>

/* Exit codes besides a command's own. */
#define NOXRC_EXIT_OK 0
#define NOXRC_EXIT_FAILED 1
#define NOXRC_EXIT_USAGE 2
#define NOXRC_EXIT_INTERRUPTED 130
/* A command returns this when it started requests; noxrc_finish() ends it. */
#define NOXRC_RUNNING (-1)
/* noxrc_args_parse() returns this when it printed --help. */
#define NOXRC_HELP (-2)

/* ---- args.c ------------------------------------------------------------ */

typedef enum {
  ARG_FLAG, /* int *: set to 1 */
  ARG_STR,  /* const char **: the last one given wins */
  ARG_LIST, /* noxrc_strv_t *: every one given, in order */
  ARG_U32   /* uint32_t *: a positive integer */
} noxrc_argkind_t;

typedef struct {
  const char *name; /* without the leading "--" */
  noxrc_argkind_t kind;
  void *dest;
  const char *metavar; /* for --help; NULL for flags */
  const char *help;
} noxrc_argspec_t;

typedef struct {
  const char **v; /* NULL-terminated */
  size_t n;
} noxrc_strv_t;

typedef struct {
  const char *name;            /* "exec" */
  const char *usage;           /* "ID [options] [--] CMD..." */
  const char *about;           /* one line */
  const noxrc_argspec_t *spec; /* terminated by a NULL name */
  /*
   * Option parsing stops at this positional argument (0: never), so that
   * a command's own flags pass through: exec stops at the command's first
   * word.
   */
  int stop_at_pos;
} noxrc_cmdspec_t;

int noxrc_strv_push(noxrc_strv_t *sv, const char *s);
void noxrc_strv_free(noxrc_strv_t *sv);

/*
 * Parses argv[0..argc) against cmd->spec and the global options. Positional
 * arguments go to *pos (noxrc_strv_free() it). Returns 0, NOXRC_EXIT_USAGE
 * after printing the reason, or NOXRC_HELP after printing the help.
 */
int noxrc_args_parse(const noxrc_cmdspec_t *cmd, int argc, char **argv,
                     noxrc_strv_t *pos);
/*
 * Checks that pos holds exactly nids (0 or 1) positional arguments, the
 * session ID not empty. Returns 0 or NOXRC_EXIT_USAGE after printing why.
 */
int noxrc_args_ids(const char *cmd, const noxrc_strv_t *pos, size_t nids);
/*
 * Parses the global options before the subcommand; *next is the index of
 * the subcommand (argc if none). Returns 0 or NOXRC_EXIT_USAGE.
 */
int noxrc_args_global(int argc, char **argv, int *next);
void noxrc_args_help(FILE *f, const noxrc_cmdspec_t *cmd);
void noxrc_args_global_help(FILE *f);

/* ---- main.c: the shared state --------------------------------------- */

typedef struct {
  const char *base_url;
  const char *token;
  uint32_t timeout_s;
  int local_test;
  int json;
  int verbose;
  int quiet;
  int progress;
  int help;
  int version;
} noxrc_global_t;

extern noxrc_global_t noxrc_g;

typedef struct noxrc_s noxrc_t;
struct noxrc_s {
  uv_loop_t loop;
  nox_client_t *client;
  uv_signal_t sigint;
  const char *cmd;     /* the subcommand's name, for messages */
  const char *session; /* the session id, for messages */
  nox_req_t *current;  /* the running request Ctrl-C cancels, or NULL */
  int interrupted;
  int finished;
  int exit_code;
  /* The interactive shell takes Ctrl-C itself while it is at its prompt. */
  void (*on_sigint)(noxrc_t *rc);
  void *cmd_data;
};

/* Creates the client and the Ctrl-C handler. Returns 0 or an exit code. */
int noxrc_connect(noxrc_t *rc);
/*
 * The end of a command's argument checks, err their outcome: when 0,
 * connects and takes pos->v[0] (a word of argv) as rc->session. Frees pos
 * either way. Returns 0 or an exit code.
 */
int noxrc_connect_session(noxrc_t *rc, int err, noxrc_strv_t *pos);
/* Sets the exit code and closes the client; uv_run() then returns. */
void noxrc_finish(noxrc_t *rc, int exit_code);
/* The base URL in use, for messages. */
const char *noxrc_base_url(void);

/* ---- output.c -------------------------------------------------------- */

void noxrc_output_init(void);
int noxrc_stderr_tty(void);
/* ✓ (to stdout), ⚠ and ✗ (to stderr) lines; coloured on a terminal. */
void noxrc_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void noxrc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void noxrc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void noxrc_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: "noxrc CMD: MSG (see noxrc CMD --help)". Returns 2. */
int noxrc_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Reports a failed request: what failed, why, and what to try; in --json
 * mode also the {"ok":false,...} object on stdout. Returns the exit code
 * (1, or 130 after Ctrl-C).
 */
int noxrc_report_error(noxrc_t *rc, const char *what, nox_req_t *req,
                       int status);
/* Writes all of buf to fd; 0 or -1. */
int noxrc_write_all(int fd, const void *buf, size_t len);
const char *noxrc_color(const char *code); /* "" when plain */

/* JSON output, built with yajl_gen; one object per command. */
typedef struct noxrc_json_s noxrc_json_t;
noxrc_json_t *noxrc_json_begin(int ok);
void noxrc_json_str(noxrc_json_t *j, const char *key, const char *val);
/* Bytes as a string (invalid UTF-8 replaced by U+FFFD) and KEYBase64. */
void noxrc_json_bytes(noxrc_json_t *j, const char *key, const char *buf,
                      size_t len);
/* A string value after a key, invalid UTF-8 replaced by U+FFFD. */
void noxrc_json_bytes_plain(noxrc_json_t *j, const char *buf, size_t len);
void noxrc_json_int(noxrc_json_t *j, const char *key, long long val);
void noxrc_json_bool(noxrc_json_t *j, const char *key, int val);
void noxrc_json_null(noxrc_json_t *j, const char *key);
/* Prints the object and a newline to stdout, frees j. */
void noxrc_json_end(noxrc_json_t *j);

/*
 * A progress display on stderr: on a terminal (or with --progress), not
 * with --quiet or --json. With a total, a bar, the percentage and an ETA;
 * without, the bytes and the rate. At most every 100 ms, and a last frame
 * at the end: at 100% when the transfer succeeded with a total.
 */
typedef struct {
  const char *label;
  uint64_t start_ns;
  uint64_t last_ns;
  uint64_t bytes;
  uint64_t total; /* 0: unknown */
  int shown;
  uint64_t drawn; /* bytes in the last frame drawn */
} noxrc_progress_t;

void noxrc_progress_init(noxrc_progress_t *p, const char *label,
                         uint64_t total);
/* total 0 keeps the total given before (to init or an earlier update). */
void noxrc_progress_update(noxrc_progress_t *p, uint64_t bytes, uint64_t total);
/* ok: the transfer succeeded (a known total is then drawn as reached). */
void noxrc_progress_done(noxrc_progress_t *p, int ok);

/* ---- progress.c: the display's text (pure, unit-tested) ------------- */

#define NOXRC_BAR_WIDTH 20
/* "1.5 MiB" */
void noxrc_format_bytes(char *buf, size_t cap, double bytes);
/* "m:ss", "h:mm:ss", or "--:--" for a negative (unknown) or huge secs. */
void noxrc_format_eta(char *buf, size_t cap, double secs);
/* bytes of total in whole percent, rounded down (100 only at the end). */
unsigned noxrc_progress_percent(uint64_t bytes, uint64_t total);
/*
 * One frame, secs after the start: with a total
 *   "LABEL [#####...............]  25%  1.0 MiB / 4.0 MiB  2.0 MiB/s  ETA 0:02"
 * and without one "LABEL 1.0 MiB  2.0 MiB/s".
 */
void noxrc_progress_format(char *buf, size_t cap, const char *label,
                           uint64_t bytes, uint64_t total, double secs);

/* ---- commands -------------------------------------------------------- */

int noxrc_cmd_health(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_create(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_touch(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_delete(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_exec(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_sh(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_upload(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_download(noxrc_t *rc, int argc, char **argv);
int noxrc_cmd_shell(noxrc_t *rc, int argc, char **argv);

#endif /* NOXRC_H */
