/*
 * Running one command: uv_spawn in its own session and process group (and
 * pids cgroup, where there is one), its stdout and stderr read from pipes
 * on the loop with a cap each, and a timer that kills the whole group when
 * the command's time is up.
 *
 * The exec state outlives its request when it must: a canceled command is
 * killed, but its handles close (and libuv reaps the child) only after the
 * exit is seen, so no zombie and no handle is left behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local/local.h"

#define DEFAULT_PATH                                                           \
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define READ_CHUNK ((size_t)64 * 1024)
/*
 * After the command exited, how long its pipes may stay open: long enough
 * for the last output to be read, short enough that a process which left
 * the group (unisolated, it can) does not hold the result hostage.
 */
#define EXIT_GRACE_MS 1000

typedef struct {
  nox__local_kind_t kind;
  nox__local_t *local;
  nox_req_t *req; /* NULL once the request is gone */
  nox__list_t node;
  char *sandbox;
  char *cgroup; /* the command's own cgroup, or NULL */
  uv_process_t proc;
  uv_pipe_t pipes[2]; /* stdout, stderr */
  uv_timer_t timer;
  int open; /* handles not yet closed */
  int eof;  /* pipes that reached EOF */
  bool exited, timed_out, finished, no_proc;
  int64_t exit_status;
  int term_signal;
  uint64_t start_ns;
  size_t cap;
  nox__buf_t buf[2];
  bool truncated[2];
  bool oom; /* output was lost to a failed allocation: not a truncation */
  char rbuf[READ_CHUNK];
} exec_t;

static void on_handle_closed(uv_handle_t *h) {
  exec_t *x = h->data;
  nox__local_t *l = x->local;

  if (--x->open > 0)
    return;
  nox__list_remove(&x->node);
  nox__buf_reset(&x->buf[0]);
  nox__buf_reset(&x->buf[1]);
  /* Queued before pending drops, so a closing client waits for it. */
  if (x->cgroup != NULL)
    nox__local_cgroup_release(l, x->cgroup);
  free(x->sandbox);
  free(x);
  l->pending--;
  nox__local_maybe_closed(l);
}

static void close_handles(exec_t *x) {
  int i;

  for (i = 0; i < 2; i++)
    if (!uv_is_closing((uv_handle_t *)&x->pipes[i]))
      uv_close((uv_handle_t *)&x->pipes[i], on_handle_closed);
  uv_close((uv_handle_t *)&x->timer, on_handle_closed);
  if (!x->no_proc)
    uv_close((uv_handle_t *)&x->proc, on_handle_closed);
}

static void kill_group(exec_t *x) {
  /* UV_PROCESS_DETACHED made the child a session and group leader. */
  if (x->proc.pid > 0)
    kill(-x->proc.pid, SIGKILL);
  /* The cgroup also holds what left the group (setsid) or was orphaned. */
  if (x->cgroup != NULL)
    nox__local_cgroup_kill(x->cgroup);
}

/* The command's bytes, as they came: a truncation is told in the result. */
static int take_output(exec_t *x, int i, nox__buf_t *dst) {
  if (dst->len == 0) {
    nox__buf_reset(dst);
    *dst = x->buf[i];
    memset(&x->buf[i], 0, sizeof(x->buf[i]));
    return 0;
  }
  return nox__buf_append(dst, x->buf[i].data, x->buf[i].len);
}

static void finish(exec_t *x) {
  nox_req_t *req = x->req;
  int r;

  if (x->finished)
    return;
  x->finished = true;
  uv_timer_stop(&x->timer);
  if (req != NULL) {
    x->req = NULL;
    if (x->timed_out)
      req->result.exit_code = 124;
    else if (x->term_signal != 0)
      req->result.exit_code = 128 + x->term_signal;
    else
      req->result.exit_code = (int)x->exit_status;
    req->result.duration_ms = (int64_t)((uv_hrtime() - x->start_ns) / 1000000);
    req->have_exit_code = true;
    req->result.out_truncated = x->truncated[0] ? 1 : 0;
    req->result.err_truncated = x->truncated[1] ? 1 : 0;
    r = x->oom ? NOX_ENOMEM : take_output(x, 0, &req->out);
    if (r == 0)
      r = take_output(x, 1, &req->errbuf);
    if (r == 0 && x->timed_out)
      nox__req_set_message(req, "command timed out after %u s",
                           (unsigned)req->timeout_seconds);
    nox__local_finish(req, r);
  }
  close_handles(x);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  exec_t *x = h->data;

  buf->base = x->rbuf;
  buf->len = sizeof(x->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  exec_t *x = s->data;
  int i = s == (uv_stream_t *)&x->pipes[0] ? 0 : 1;
  size_t room, n;

  if (nread > 0) {
    /* Past the cap the pipe is still drained, so the command never blocks. */
    room = x->cap - x->buf[i].len;
    n = (size_t)nread < room ? (size_t)nread : room;
    if (n < (size_t)nread)
      x->truncated[i] = true;
    if (n > 0 && nox__buf_append(&x->buf[i], buf->base, n) != 0)
      x->oom = true;
    return;
  }
  if (nread == 0)
    return;
  uv_read_stop(s);
  uv_close((uv_handle_t *)s, on_handle_closed);
  if (++x->eof == 2 && x->exited)
    finish(x);
}

static void on_timeout(uv_timer_t *t);

static void on_process_exit(uv_process_t *p, int64_t status, int signal) {
  exec_t *x = p->data;

  x->exited = true;
  x->exit_status = status;
  x->term_signal = signal;
  /*
   * What the command left running in its group goes with it, as in a
   * bwrap pid namespace; that also releases pipes such leftovers hold.
   */
  kill_group(x);
  if (x->eof == 2)
    finish(x);
  else
    uv_timer_start(&x->timer, on_timeout, EXIT_GRACE_MS, 0);
}

static void on_timeout(uv_timer_t *t) {
  exec_t *x = t->data;

  if (x->exited) {
    /* Exited, but something that left its group holds the pipes open. */
    finish(x);
    return;
  }
  x->timed_out = true;
  kill_group(x);
}

/* The command's environment: defaults, then the caller's entries over them. */
static char **make_env(const nox__local_t *l, const nox__local_job_t *job,
                       char *const *user, char **home) {
  size_t n = 0, i, j, klen;
  char **env;

  while (user != NULL && user[n] != NULL)
    n++;
  env = calloc(n + 4, sizeof(*env));
  *home = malloc(strlen(job->workspace) + 8);
  if (env == NULL || *home == NULL) {
    free(env);
    free(*home);
    *home = NULL;
    return NULL;
  }
  sprintf(*home, "HOME=%s",
          l->bwrap != NULL ? NOX__LOCAL_WORKSPACE : job->workspace);
  env[0] = "PATH=" DEFAULT_PATH;
  env[1] = *home;
  env[2] = "LANG=C.UTF-8";
  n = 3;
  for (i = 0; user != NULL && user[i] != NULL; i++) {
    klen = (size_t)(strchr(user[i], '=') - user[i]) + 1;
    for (j = 0; j < n && strncmp(env[j], user[i], klen) != 0; j++)
      ;
    env[j] = user[i];
    if (j == n)
      n++;
  }
  env[n] = NULL;
  return env;
}

/*
 * A spawn that failed before the program ran: 127/126 as a shell says. prog
 * NULL: the command could not be moved into its cgroup (err is an errno).
 */
static void spawn_failed(exec_t *x, int err, const char *prog, const char *cwd,
                         bool direct) {
  nox_req_t *req = x->req;
  char line[320];
  int n;

  x->exited = true;
  if (access(cwd, F_OK) != 0 || (prog == NULL && err == ENOENT)) {
    /* Deleted or reaped between its preparation and the spawn. */
    x->req = NULL;
    nox__req_set_message(req, "the sandbox was removed");
    nox__local_finish(req, NOX_ENOTFOUND);
    close_handles(x);
    return;
  }
  if (direct && (err == UV_ENOENT || err == UV_EACCES)) {
    n = snprintf(line, sizeof(line), "noxrunner: %.256s: %s\n", prog,
                 err == UV_ENOENT ? "command not found" : "permission denied");
    nox__buf_append(&x->buf[1], line, (size_t)n);
    x->exit_status = err == UV_ENOENT ? 127 : 126;
    finish(x);
    return;
  }
  x->req = NULL;
  if (prog != NULL && err == UV_EAGAIN && x->cgroup != NULL) {
    /* Nothing ran: a later try can succeed once processes have ended. */
    nox__req_set_message(req,
                         "the sandbox is at its process limit (%lu); retry "
                         "when some of its processes have ended",
                         (unsigned long)x->local->cg_max_pids);
    nox__local_finish(req, NOX_EUNAVAIL);
    close_handles(x);
    return;
  }
  if (prog == NULL)
    nox__req_set_message(req, "cannot move the command into its cgroup: %s",
                         strerror(err));
  else
    nox__req_set_message(req, "cannot start %s: %s", prog, uv_strerror(err));
  nox__local_finish(req, NOX_EIO);
  close_handles(x);
}

void nox__local_exec_start(nox__local_job_t *job) {
  nox__local_t *l = job->local;
  nox_req_t *req = job->req;
  uv_loop_t *loop = l->client->loop;
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  const char **argv = NULL, *cwd;
  char script[256], saved[4096], **env = NULL, *home = NULL;
  exec_t *x;
  int r, i;

  x = calloc(1, sizeof(*x));
  if (x == NULL || (x->sandbox = strdup(job->sandbox)) == NULL) {
    free(x);
    nox__local_finish(req, NOX_ENOMEM);
    return;
  }
  r = nox__local_command(l, job, req->argv, req->timeout_seconds, script,
                         sizeof(script), &argv, &cwd);
  if (r == 0 && (env = make_env(l, job, req->env, &home)) == NULL)
    r = NOX_ENOMEM;
  if (r != 0) {
    if (r == NOX_EINVAL)
      nox__req_set_message(req, "%s", script);
    free(argv);
    free(x->sandbox);
    free(x);
    nox__local_finish(req, r);
    return;
  }

  x->kind = NOX__LOCAL_EXEC;
  x->local = l;
  x->req = req;
  x->cgroup = job->cgroup;
  job->cgroup = NULL;
  x->cap = l->client->opts.max_output_bytes;
  nox__list_init(&x->node);
  nox__list_push_back(&l->execs, &x->node);
  l->pending++;
  for (i = 0; i < 2; i++) {
    uv_pipe_init(loop, &x->pipes[i], 0);
    x->pipes[i].data = x;
  }
  uv_timer_init(loop, &x->timer);
  x->timer.data = x;
  x->proc.data = x;
  x->open = 4;
  req->backend_data = x;

  memset(&o, 0, sizeof(o));
  stdio[0].flags = UV_IGNORE;
  for (i = 1; i < 3; i++) {
    stdio[i].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[i].data.stream = (uv_stream_t *)&x->pipes[i - 1];
  }
  o.file = argv[0];
  o.args = (char **)argv;
  o.env = env;
  o.cwd = cwd;
  o.flags = UV_PROCESS_DETACHED;
  o.stdio_count = 3;
  o.stdio = stdio;
  o.exit_cb = on_process_exit;
  x->start_ns = uv_hrtime();
  /* The child is born in the cgroup: nothing of it ever runs outside. */
  if (x->cgroup != NULL &&
      (r = nox__local_cgroup_enter(l, x->cgroup, saved, sizeof(saved))) != 0) {
    x->no_proc = true; /* uv_spawn never initialised it */
    x->open--;
    spawn_failed(x, r, NULL, cwd, false);
    goto done;
  }
  r = uv_spawn(loop, &x->proc, &o);
  if (x->cgroup != NULL)
    nox__local_cgroup_leave(l, saved);
  x->proc.data = x; /* uv_spawn initialises the handle */
  if (r != 0) {
    spawn_failed(x, r, req->argv[0], cwd, argv[0] == req->argv[0]);
  } else {
    for (i = 0; i < 2; i++)
      uv_read_start((uv_stream_t *)&x->pipes[i], on_alloc, on_read);
    uv_timer_start(&x->timer, on_timeout, (uint64_t)req->timeout_seconds * 1000,
                   0);
  }
done:
  free(argv);
  free(env);
  free(home);
}

void nox__local_exec_abort(void *state) {
  exec_t *x = state;

  x->req = NULL;
  if (x->exited)
    finish(x);
  else
    kill_group(x); /* on_process_exit then closes everything */
}

void nox__local_exec_kill_sandbox(nox__local_t *l, const char *sandbox,
                                  uint64_t before_ns) {
  nox__list_t *n;
  exec_t *x;

  for (n = l->execs.next; n != &l->execs; n = n->next) {
    x = nox__list_entry(n, exec_t, node);
    if (!x->exited && x->start_ns < before_ns &&
        strcmp(x->sandbox, sandbox) == 0)
      kill_group(x);
  }
}
