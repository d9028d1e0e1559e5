/*
 * A client that leaves before its exec is answered takes the command with
 * it: noxd cancels the exec and the command's whole process group is killed
 * (the shell and the child it forked). Left by nox_req_cancel(), by
 * nox_client_close(), and by a raw socket closed after the request; bytes
 * pipelined behind an exec do not count as leaving. noxd logs each request
 * that lost its client as "(client went away)".
 *
 * The time from the client leaving to the processes being gone is printed,
 * not asserted: the bounds below are hang guards only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <noxrunner.h>

#include "noxd_util.h"
#include "test.h"

#define GUARD_MS 20000ull

/* The shell records its pid and its background child's, then waits. */
static const char *const script =
    "echo $$ > pids; sleep 60 & echo $! >> pids; wait";

static uv_loop_t loop;
static noxd_test_t t;

/* State ('R', 'S', 'Z'...) of a process; 0 if it is gone. */
static char proc_state(pid_t pid) {
  char path[64], buf[512], state = 0;
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  if (fgets(buf, sizeof(buf), f) != NULL) {
    const char *p = strrchr(buf, ')'); /* the command name may hold ')' */
    if (p == NULL || sscanf(p + 1, " %c", &state) != 1)
      state = 0;
  }
  fclose(f);
  return state;
}

/* Dead: reaped, or a zombie that nothing runs in any more. */
static bool gone(pid_t pid) {
  char st = proc_state(pid);
  return st == 0 || st == 'Z';
}

static void pump(void) {
  uv_run(&loop, UV_RUN_NOWAIT);
  usleep(5000);
}

/* Both pids the script of sandbox id wrote, once it wrote them. */
static void wait_pids(const char *id, pid_t pids[2]) {
  unsigned long long deadline = nox_test_now_ms() + GUARD_MS;
  char path[4200];
  int a, b;

  snprintf(path, sizeof(path), "%s/sb-%s/workspace/pids", t.root, id);
  for (;;) {
    FILE *f = fopen(path, "r");
    int n = 0;
    if (f != NULL) {
      n = fscanf(f, "%d %d", &a, &b);
      fclose(f);
    }
    if (n == 2)
      break;
    ASSERT_LT(nox_test_now_ms(), deadline);
    pump();
  }
  pids[0] = (pid_t)a;
  pids[1] = (pid_t)b;
  ASSERT(!gone(pids[0]));
  ASSERT(!gone(pids[1]));
}

/* Waits for both processes to die; prints how long it took from t0. */
static void wait_gone(const char *how, const pid_t pids[2],
                      unsigned long long t0) {
  unsigned long long deadline = t0 + GUARD_MS;

  while (!gone(pids[0]) || !gone(pids[1])) {
    ASSERT_LT(nox_test_now_ms(), deadline);
    pump();
  }
  printf("%s: shell %d and child %d gone %llu ms after the client left\n", how,
         (int)pids[0], (int)pids[1], nox_test_now_ms() - t0);
  fflush(stdout);
}

static void create_sandbox(const char *id) {
  char url[512];
  noxd_http_opts_t o = {NULL, "{}", 2, false};

  snprintf(url, sizeof(url), "%s/v1/sandboxes/%s", t.srv.url, id);
  ASSERT_EQ(noxd_http("PUT", url, &o, NULL, NULL), 200);
}

static nox_client_t *new_client(void) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *client;

  opts.base_url = t.srv.url;
  opts.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&client, &loop, &opts), 0);
  return client;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  int *st = nox_req_data(req);
  (void)r;
  st[0] = 1;
  st[1] = status;
}

static void on_closed(void *data) {
  *(bool *)data = true;
}

static nox_req_t *start_script(nox_client_t *client, const char *id,
                               int *result) {
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  nox_req_t *req = NULL;

  o.timeout_seconds = 120;
  ASSERT_EQ(nox_exec_shell(&req, client, id, "sh", script, &o, on_exec, result),
            0);
  return req;
}

/* (a) nox_req_cancel() on the HTTP client's request. */
static void by_cancel(void) {
  nox_client_t *client = new_client();
  int result[2] = {0, 0};
  nox_req_t *req;
  pid_t pids[2];
  unsigned long long t0;
  bool closed = false;

  create_sandbox("cancel");
  req = start_script(client, "cancel", result);
  wait_pids("cancel", pids);
  ASSERT(!result[0]);
  t0 = nox_test_now_ms();
  ASSERT_EQ(nox_req_cancel(req), 0);
  wait_gone("nox_req_cancel", pids, t0);
  while (!result[0])
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(result[1], NOX_ECANCELED);
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
}

/* (b) nox_client_close() while the exec runs. */
static void by_client_close(void) {
  nox_client_t *client = new_client();
  int result[2] = {0, 0};
  pid_t pids[2];
  unsigned long long t0;
  bool closed = false;

  create_sandbox("close");
  start_script(client, "close", result);
  wait_pids("close", pids);
  t0 = nox_test_now_ms();
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  wait_gone("nox_client_close", pids, t0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT(result[0]);
  ASSERT_EQ(result[1], NOX_ECLOSING);
}

static int connect_noxd(void) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  ASSERT(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)t.srv.port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    ASSERT(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

/* A raw exec request of `sh -c CMD`, then more bytes when extra is set. */
static void send_exec(int fd, const char *id, const char *cmd,
                      const char *extra) {
  char body[512], req[2048];
  int bl, rl;

  bl = snprintf(body, sizeof(body),
                "{\"cmd\":[\"sh\",\"-c\",\"%s\"],\"timeoutSeconds\":120}", cmd);
  ASSERT(bl > 0 && (size_t)bl < sizeof(body));
  rl = snprintf(req, sizeof(req),
                "POST /v1/sandboxes/%s/exec HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n%s%s",
                id, bl, body, extra != NULL ? extra : "");
  ASSERT(rl > 0 && (size_t)rl < sizeof(req));
  send_all(fd, req, (size_t)rl);
}

/* (c) A raw connection that sends the request and closes. */
static void by_socket_close(void) {
  int fd = connect_noxd();
  pid_t pids[2];
  unsigned long long t0;

  create_sandbox("raw");
  send_exec(fd, "raw", script, NULL);
  wait_pids("raw", pids);
  t0 = nox_test_now_ms();
  ASSERT_EQ(close(fd), 0);
  wait_gone("socket close", pids, t0);
}

/* Reads from fd until needle has been seen count times in what came. */
static void read_until(int fd, const char *needle, int count, char *buf,
                       size_t cap) {
  unsigned long long deadline = nox_test_now_ms() + GUARD_MS;
  size_t len = 0;

  ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
  for (;;) {
    int seen = 0;
    ssize_t n;
    buf[len] = '\0';
    for (const char *p = strstr(buf, needle); p != NULL;
         p = strstr(p + 1, needle))
      seen++;
    if (seen >= count)
      return;
    ASSERT_LT(nox_test_now_ms(), deadline);
    n = recv(fd, buf + len, cap - 1 - len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      usleep(5000);
      continue;
    }
    ASSERT(n > 0); /* noxd must not close on us */
    len += (size_t)n;
  }
}

/*
 * (d) Bytes sent while the exec runs (a request pipelined behind it) are no
 * hangup: the command runs to its end and both answers come. A close is
 * still seen behind such bytes: a second exec on the same connection, with
 * a request sent behind it again, is killed when the socket closes.
 */
static void pipelined(void) {
  static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  char path[4200], buf[8192];
  int fd = connect_noxd(), go;
  pid_t pids[2];
  unsigned long long t0;

  create_sandbox("pipe");
  send_exec(fd, "pipe",
            "echo $$ > pids; echo $$ >> pids; "
            "while [ ! -e go ]; do sleep 0.05; done; echo finished",
            NULL);
  wait_pids("pipe", pids);
  send_all(fd, health, strlen(health));
  snprintf(path, sizeof(path), "%s/sb-pipe/workspace/go", t.root);
  go = open(path, O_CREAT | O_WRONLY, 0644);
  ASSERT(go >= 0);
  close(go);
  read_until(fd, "HTTP/1.1 200", 2, buf, sizeof(buf));
  ASSERT(strstr(buf, "finished") != NULL);

  snprintf(path, sizeof(path), "%s/sb-pipe/workspace/pids", t.root);
  ASSERT_EQ(unlink(path), 0);
  send_exec(fd, "pipe", script, NULL);
  wait_pids("pipe", pids);
  send_all(fd, health, strlen(health));
  t0 = nox_test_now_ms();
  ASSERT_EQ(close(fd), 0);
  wait_gone("socket close, request pipelined", pids, t0);
}

/* noxd's log lines that hold both strings. */
static int log_lines(const char *log, const char *a, const char *b) {
  FILE *f = fopen(log, "r");
  char line[1024];
  int n = 0;

  ASSERT(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL)
    n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  const char *isolation = argc > 1 ? argv[1] : "none";
  char log[] = "/tmp/noxd-disconnect-log-XXXXXX";
  int logfd, saved, status;
  int c;
  FILE *f;

  ASSERT_EQ(nox_library_init(), 0);
  /* noxd inherits stderr: give it a file, to read its request log. */
  logfd = mkstemp(log);
  ASSERT(logfd >= 0);
  fflush(stderr);
  saved = dup(STDERR_FILENO);
  ASSERT(saved >= 0);
  ASSERT_EQ(dup2(logfd, STDERR_FILENO), STDERR_FILENO);
  ASSERT_EQ(noxd_test_start(&t, isolation, NULL), 0);
  ASSERT_EQ(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  close(logfd);
  ASSERT_EQ(uv_loop_init(&loop), 0);

  by_cancel();
  by_client_close();
  by_socket_close();
  pipelined();

  ASSERT_LOOP_CLOSES(&loop);
  status = noxd_test_stop(&t);

  f = fopen(log, "r");
  ASSERT(f != NULL);
  while ((c = fgetc(f)) != EOF)
    fputc(c, stderr);
  fclose(f);
  ASSERT_EQ(
      log_lines(log, "POST /v1/sandboxes/cancel/exec", "(client went away)"),
      1);
  ASSERT_EQ(
      log_lines(log, "POST /v1/sandboxes/close/exec", "(client went away)"), 1);
  ASSERT_EQ(log_lines(log, "POST /v1/sandboxes/raw/exec", "(client went away)"),
            1);
  ASSERT_EQ(log_lines(log, "POST /v1/sandboxes/pipe/exec 200", NULL), 1);
  ASSERT_EQ(
      log_lines(log, "POST /v1/sandboxes/pipe/exec", "(client went away)"), 1);
  ASSERT_EQ(log_lines(log, "GET /healthz 200", NULL), 1);
  /* Dropping a request whose client left is not an internal error. */
  ASSERT_EQ(log_lines(log, "internal error", NULL), 0);
  /* A clean exit: every watch closed with the loop (and, under ASan, no
   * leak). */
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  unlink(log);
  nox_library_cleanup();
  return 0;
}
