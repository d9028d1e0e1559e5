/*
 * shell ID: an interactive prompt on the sandbox. On a terminal libedit
 * reads the line through its callback interface, fed by a uv_poll_t on
 * stdin, so the prompt, the running request and Ctrl-C all live on the one
 * uv loop. Otherwise (a script piped in) lines are read with uv_fs_read and
 * run one after the other, without a prompt.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "noxrc.h"

static struct {
  const char *workdir;
  uint32_t timeout_s;
} o = {NULL, 30};

static const noxrc_argspec_t shell_spec[] = {
    {"workdir", ARG_STR, &o.workdir, "DIR",
     "starting directory (default /workspace)"},
    {"timeout-seconds", ARG_U32, &o.timeout_s, "N",
     "time limit of each command (default 30)"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_cmdspec_t shell_cmd = {
    "shell", "ID [--workdir DIR] [--timeout-seconds N]",
    "An interactive prompt in sandbox ID: each line runs with sh -c in the "
    "current\ndirectory. Built in: cd DIR (checked to exist), pwd, touch "
    "(reset the TTL),\nhelp, exit or quit (or Ctrl-D). Ctrl-C cancels the "
    "running command.",
    shell_spec, 0};

/* The shell's state; there is one prompt per process. */
static struct {
  noxrc_t *rc;
  uv_poll_t poll;
  uv_signal_t winch; /* libedit learns the new width from us */
  char cwd[4096];
  char cd_to[4096];
  char prompt[4096 + 256];
  char history[4096];
  int reading; /* the line handler is installed */
  int tty;     /* stdin is a terminal: libedit; else the plain reader */
} sh;

/* The plain line reader for a stdin that is not a terminal. */
static struct {
  uv_fs_t req;
  char buf[64 * 1024];
  size_t len;
  int pending; /* a read is running */
  int eof;
  int feeding; /* feed() is on the stack */
  int again;   /* feed() was asked again meanwhile */
} in;

static void feed(void);

static void on_line(char *line);
static void on_readable(uv_poll_t *h, int status, int events);

static void prompt(void) {
  if (!sh.tty) {
    feed();
    return;
  }
  snprintf(sh.prompt, sizeof(sh.prompt), "%s:%s$ ", sh.rc->session, sh.cwd);
  rl_callback_handler_install(sh.prompt, on_line);
  sh.reading = 1;
  uv_poll_start(&sh.poll, UV_READABLE, on_readable);
}

static void quit(void) {
  if (sh.reading)
    rl_callback_handler_remove();
  sh.reading = 0;
  if (sh.history[0] != '\0')
    write_history(sh.history);
  if (sh.tty) {
    uv_close((uv_handle_t *)&sh.poll, NULL);
    uv_close((uv_handle_t *)&sh.winch, NULL);
  }
  noxrc_finish(sh.rc, 0);
}

static void on_read(uv_fs_t *req) {
  in.pending = 0;
  if (req->result > 0)
    in.len += (size_t)req->result;
  else
    in.eof = 1;
  uv_fs_req_cleanup(req);
  feed();
}

/*
 * Hands the next complete line to on_line, or reads more. Commands that
 * finish at once prompt again from inside on_line: that only asks this
 * loop for another turn, so a long script does not deepen the stack.
 */
static void feed(void) {
  if (in.feeding) {
    in.again = 1;
    return;
  }
  in.feeding = 1;
  do {
    char *nl = memchr(in.buf, '\n', in.len);
    size_t n = nl != NULL ? (size_t)(nl - in.buf) : in.len;
    char *line;

    in.again = 0;
    if (nl == NULL && !in.eof && in.len < sizeof(in.buf)) {
      uv_buf_t b = uv_buf_init(in.buf + in.len, sizeof(in.buf) - in.len);

      if (in.pending)
        continue;
      if (uv_fs_read(&sh.rc->loop, &in.req, STDIN_FILENO, &b, 1, -1, on_read) ==
          0) {
        in.pending = 1;
      } else {
        in.eof = 1;
        in.again = 1;
      }
      continue;
    }
    if (n == 0 && nl == NULL) {
      on_line(NULL);
      continue;
    }
    line = strndup(in.buf, n);
    if (nl != NULL)
      n++;
    memmove(in.buf, in.buf + n, in.len - n);
    in.len -= n;
    if (line == NULL) {
      on_line(NULL);
      continue;
    }
    on_line(line);
  } while (in.again);
  in.feeding = 0;
}

static void on_winch(uv_signal_t *h, int signum) {
  rl_resize_terminal();
}

static void on_readable(uv_poll_t *h, int status, int events) {
  if (status < 0) {
    quit();
    return;
  }
  rl_callback_read_char();
}

/* Ctrl-C: cancel the running command, or drop the line being edited. */
static void on_sigint(noxrc_t *rc) {
  if (rc->current != NULL) {
    nox_req_cancel(rc->current);
    return;
  }
  if (!sh.reading || !sh.tty)
    return;
  fputs("\n", stdout);
  fflush(stdout);
  rl_replace_line("", 0);
  rl_callback_handler_remove();
  prompt();
}

/* A request ended: report a failure and prompt again. */
static int done(nox_req_t *req, int status, const char *what) {
  sh.rc->current = NULL;
  if (status == NOX_ECANCELED)
    noxrc_fail("%s: interrupted", what);
  else if (status != 0)
    noxrc_report_error(sh.rc, what, req, status);
  return status;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  if (done(req, status, "command") == 0) {
    fflush(stdout);
    noxrc_write_all(STDOUT_FILENO, r->out, r->out_len);
    noxrc_write_all(STDERR_FILENO, r->err, r->err_len);
    if (r->exit_code == 124)
      noxrc_fail("timed out after %u s (exit 124)", (unsigned)o.timeout_s);
    else if (r->exit_code != 0)
      noxrc_fail("exit %d", r->exit_code);
  }
  prompt();
}

static void on_cd(nox_req_t *req, int status, const nox_exec_result_t *r) {
  if (done(req, status, "cd") == 0) {
    size_t len = r->out_len;

    while (len > 0 && (r->out[len - 1] == '\n' || r->out[len - 1] == '\r'))
      len--;
    if (r->exit_code == 0 && len > 0 && len < sizeof(sh.cwd) &&
        r->out[0] == '/') {
      memcpy(sh.cwd, r->out, len);
      sh.cwd[len] = '\0';
    } else {
      noxrc_fail("cd: %s: no such directory", sh.cd_to);
    }
  }
  prompt();
}

static void on_touch(nox_req_t *req, int status) {
  if (done(req, status, "touch") == 0)
    noxrc_ok("TTL of %s reset", sh.rc->session);
  prompt();
}

static void help(void) {
  printf("Each line runs with sh -c in the sandbox, in the current "
         "directory.\n"
         "  cd [DIR]   change directory (checked; no DIR: back to the start)\n"
         "  pwd        print the current directory\n"
         "  touch      reset the sandbox's TTL (touch FILE runs the "
         "command)\n"
         "  help       this help\n"
         "  exit, quit leave (or Ctrl-D); Ctrl-C cancels a running "
         "command\n");
}

/* Starts what the line asks; returns 0 when a request now runs. */
static int run(char *line) {
  noxrc_t *rc = sh.rc;
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  char *word = line + strspn(line, " \t");
  size_t wlen = strcspn(word, " \t");
  char *rest = word + wlen + strspn(word + wlen, " \t");
  int err;
  eo.workdir = sh.cwd;
  eo.timeout_seconds = o.timeout_s;
  if (wlen == 2 && strncmp(word, "cd", 2) == 0) {
    /* Resolved by the sandbox's own sh, so relative paths and ~ work. */
    const char *argv[] = {"sh", "-c", "cd -- \"$1\" && pwd", "sh", NULL, NULL};
    size_t n = strlen(rest);

    while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'))
      rest[--n] = '\0';
    snprintf(sh.cd_to, sizeof(sh.cd_to), "%s",
             rest[0] != '\0' ? rest
                             : (o.workdir != NULL ? o.workdir : "/workspace"));
    argv[4] = sh.cd_to;
    err =
        nox_exec(&rc->current, rc->client, rc->session, argv, &eo, on_cd, NULL);
  } else if (wlen == 3 && strncmp(word, "pwd", 3) == 0 && rest[0] == '\0') {
    printf("%s\n", sh.cwd);
    return -1;
  } else if (wlen == 5 && strncmp(word, "touch", 5) == 0 && rest[0] == '\0') {
    err = nox_touch(&rc->current, rc->client, rc->session, on_touch, NULL);
  } else if (wlen == 4 && strncmp(word, "help", 4) == 0) {
    help();
    return -1;
  } else {
    err = nox_exec_shell(&rc->current, rc->client, rc->session, "sh", line, &eo,
                         on_exec, NULL);
  }
  if (err != 0) {
    noxrc_report_error(rc, "command", NULL, err);
    return -1;
  }
  return 0;
}

static void on_line(char *line) {
  if (line == NULL) {
    if (sh.tty)
      fputs("\n", stdout);
    quit();
    return;
  }
  char *word = line + strspn(line, " \t");
  if (word[0] == '\0') {
    free(line);
    return;
  }
  if (sh.tty)
    add_history(line);
  if (strcmp(word, "exit") == 0 || strcmp(word, "quit") == 0) {
    free(line);
    quit();
    return;
  }
  /* No prompt and no input while the command runs; its callback prompts. */
  if (sh.tty) {
    rl_callback_handler_remove();
    sh.reading = 0;
    uv_poll_stop(&sh.poll);
  }
  if (run(line) != 0)
    prompt();
  free(line);
}

int noxrc_cmd_shell(noxrc_t *rc, int argc, char **argv) {
  noxrc_strv_t pos = {NULL, 0};
  const char *home = getenv("HOME");
  int err = noxrc_args_parse(&shell_cmd, argc, argv, &pos);

  if (err == 0)
    err = noxrc_args_ids("shell", &pos, 1);
  err = noxrc_connect_session(rc, err, &pos);
  if (err != 0)
    return err;
  sh.rc = rc;
  sh.tty = isatty(STDIN_FILENO);
  if (sh.tty && uv_poll_init(&rc->loop, &sh.poll, STDIN_FILENO) != 0) {
    noxrc_fail("shell: cannot watch the terminal");
    return NOXRC_EXIT_FAILED;
  }
  if (sh.tty) {
    uv_signal_init(&rc->loop, &sh.winch);
    uv_signal_start(&sh.winch, on_winch, SIGWINCH);
  }
  rc->on_sigint = on_sigint;
  /* The interactive shell prints for people, never JSON. */
  noxrc_g.json = 0;
  snprintf(sh.cwd, sizeof(sh.cwd), "%s",
           o.workdir != NULL ? o.workdir : "/workspace");

  /* libuv owns SIGINT; libedit must leave the signal handlers alone. */
  rl_catch_signals = 0;
  rl_catch_sigwinch = 0;
  using_history();
  stifle_history(1000);
  if (home != NULL && home[0] != '\0' && isatty(STDIN_FILENO)) {
    snprintf(sh.history, sizeof(sh.history), "%s/.noxrc_history", home);
    read_history(sh.history);
  }
  if (!noxrc_g.quiet && sh.tty)
    printf("noxrc shell on %s at %s — help for commands, exit or Ctrl-D to "
           "leave\n",
           rc->session, noxrc_base_url());
  fflush(stdout);
  prompt();
  return NOXRC_RUNNING;
}
