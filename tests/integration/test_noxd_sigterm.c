/*
 * SIGTERM while an exec runs: the exec is answered (503, the server is
 * shutting down), noxd exits with status 0, and the command's processes are
 * gone.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <noxrunner.h>

#include "noxd_util.h"
#include "test.h"

#define MAX_PIDS 64

static uv_loop_t loop;

/* State ('R', 'S', 'Z'...) and parent of a process; 0 if it is gone. */
static char proc_state(pid_t pid, pid_t *ppid) {
  char path[64], buf[512], *p;
  FILE *f;
  char state = 0;
  int pp = 0;

  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  if (fgets(buf, sizeof(buf), f) != NULL) {
    /* The command name may hold spaces and parentheses: skip to the last. */
    p = strrchr(buf, ')');
    if (p != NULL && sscanf(p + 1, " %c %d", &state, &pp) != 2)
      state = 0;
  }
  fclose(f);
  if (ppid != NULL)
    *ppid = pp;
  return state;
}

/* Every live descendant of root. */
static int descendants(pid_t root, pid_t *out, int max) {
  int n = 0, grew = 1;

  while (grew) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    grew = 0;
    ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL && n < max) {
      pid_t pid = (pid_t)atoi(e->d_name), ppid;
      bool known = false, ours;
      if (pid <= 0 || proc_state(pid, &ppid) == 0)
        continue;
      ours = ppid == root;
      for (int i = 0; i < n; i++) {
        known |= out[i] == pid;
        ours |= out[i] == ppid;
      }
      if (ours && !known) {
        out[n++] = pid;
        grew = 1;
      }
    }
    closedir(d);
  }
  return n;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  int *st = nox_req_data(req);
  const nox_error_t *e = nox_req_error(req);

  st[0] = 1;
  st[1] = status;
  st[2] = (int)e->http_status;
  ASSERT(strstr(e->message, "shutting down") != NULL);
}

static void on_closed(void *data) {
  *(bool *)data = true;
}

int main(int argc, char **argv) {
  const char *isolation = argc > 1 ? argv[1] : "none";
  const char *cmd[] = {"sleep", "60", NULL};
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *client;
  noxd_test_t t;
  pid_t pids[MAX_PIDS];
  int npids = 0, status, result[3] = {0, 0, 0};
  unsigned long long deadline;
  bool closed = false;

  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(noxd_test_start(&t, isolation, NULL), 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  opts.base_url = t.srv.url;
  opts.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&client, &loop, &opts), 0);
  {
    char url[512];
    snprintf(url, sizeof(url), "%s/v1/sandboxes/long", t.srv.url);
    ASSERT_EQ(noxd_http("PUT", url, NULL, NULL, NULL), 200);
  }
  ASSERT_EQ(nox_exec(NULL, client, "long", cmd, NULL, on_exec, result), 0);

  /* Bounded wait for the command to be running under noxd. */
  deadline = nox_test_now_ms() + 10000;
  while (npids == 0 && nox_test_now_ms() < deadline) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(20000);
    npids = descendants(t.srv.pid, pids, MAX_PIDS);
  }
  ASSERT_GT(npids, 0);

  ASSERT_EQ(kill(t.srv.pid, SIGTERM), 0);
  while (!result[0])
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(result[1], NOX_EUNAVAIL);
  ASSERT_EQ(result[2], 503);

  /* It exits by itself: no SIGKILL from the harness. */
  deadline = nox_test_now_ms() + 10000;
  while (waitpid(t.srv.pid, &status, WNOHANG) == 0) {
    ASSERT_LT(nox_test_now_ms(), deadline);
    usleep(10000);
  }
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  t.srv.pid = 0;

  /* Its children were killed, not left behind (a zombie is dead too). */
  for (int i = 0; i < npids; i++) {
    char st;
    deadline = nox_test_now_ms() + 5000;
    while ((st = proc_state(pids[i], NULL)) != 0 && st != 'Z') {
      ASSERT_LT(nox_test_now_ms(), deadline);
      usleep(10000);
    }
  }

  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(closed);
  noxd_test_stop(&t); /* only removes the root: the process is reaped */
  nox_library_cleanup();
  return 0;
}
