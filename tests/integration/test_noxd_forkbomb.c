/*
 * A fork bomb in one sandbox of noxd (--max-pids 32, isolation none, where
 * nothing but the cgroup holds it): while it runs, /healthz and a command
 * in another sandbox are served and the bomb's sandbox never holds more
 * processes than the cap; the bomb's exec ends at its timeout with 124;
 * afterwards no process of its cgroup is left and the command's cgroup is
 * gone; noxd is still up, and stops cleanly leaving no cgroup behind.
 *
 * Exits 77 (skipped) where noxd cannot make pids cgroups (e.g. non-root).
 * Whatever happens, the test's exit path kills what the sandbox's cgroups
 * hold, so no part of the bomb outlives it.
 */
#include <dirent.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <noxrunner.h>
#include <uv.h>

#include "noxd_util.h"
#include "test.h"

#define MAX_PIDS 32
#define MAX_PIDS_ARG "32"

static char root_cg[1024]; /* the noxd root's cgroups, once known */

static void find_mount(char *out, size_t len) {
  struct mntent *m;
  FILE *f = setmntent("/proc/self/mounts", "r");

  out[0] = '\0';
  ASSERT(f != NULL);
  while ((m = getmntent(f)) != NULL)
    if (strcmp(m->mnt_type, "cgroup") == 0 && hasmntopt(m, "pids") != NULL)
      snprintf(out, len, "%s", m->mnt_dir);
  endmntent(f);
}

/* SIGKILLs every process in dir's cgroup tree. */
static void kill_tree(const char *dir) {
  char path[2048];
  struct dirent *de;
  FILE *f;
  long pid;
  DIR *d;

  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  if ((f = fopen(path, "r")) != NULL) {
    while (fscanf(f, "%ld", &pid) == 1)
      kill((pid_t)pid, SIGKILL);
    fclose(f);
  }
  if ((d = opendir(dir)) == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    if (de->d_type == DT_DIR && de->d_name[0] != '.') {
      snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
      kill_tree(path);
    }
  }
  closedir(d);
}

static void on_abort(int sig) {
  if (root_cg[0] != '\0')
    kill_tree(root_cg);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Live (not zombie) processes whose pids cgroup path contains needle. */
static int processes_in(const char *needle) {
  char path[300], line[4096], state;
  struct dirent *de;
  int n = 0;
  DIR *d = opendir("/proc");

  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
      continue;
    /* The state follows the last ')': comm may hold anything. */
    state = '?';
    if (fgets(line, sizeof(line), f) != NULL && strrchr(line, ')') != NULL)
      state = strrchr(line, ')')[2];
    fclose(f);
    if (state == 'Z' || state == '?')
      continue;
    snprintf(path, sizeof(path), "/proc/%s/cgroup", de->d_name);
    if ((f = fopen(path, "r")) == NULL)
      continue;
    while (fgets(line, sizeof(line), f) != NULL)
      if (strstr(line, ":pids:") != NULL && strstr(line, needle) != NULL)
        n++;
    fclose(f);
  }
  closedir(d);
  return n;
}

static long read_number(const char *dir, const char *file) {
  char path[2048];
  long v = -1;
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, file);
  if ((f = fopen(path, "r")) == NULL)
    return -1;
  if (fscanf(f, "%ld", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

/* The cgroups below dir (commands' cgroups below a sandbox's). */
static int subdirs(const char *dir) {
  struct dirent *de;
  int n = 0;
  DIR *d = opendir(dir);

  while (d != NULL && (de = readdir(d)) != NULL)
    n += de->d_type == DT_DIR && de->d_name[0] != '.';
  if (d != NULL)
    closedir(d);
  return n;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

typedef struct {
  int done, status, exit_code;
} outcome_t;

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  outcome_t *o = nox_req_data(req);
  o->done = 1;
  o->status = status;
  o->exit_code = r != NULL ? r->exit_code : -1;
  if (r != NULL)
    printf("  bomb: exit %d, %zu bytes of stderr, the first line \"%.*s\"\n",
           r->exit_code, r->err_len, (int)strcspn(r->err, "\n"), r->err);
}

/* Runs the loop for about ms, with the client's work going on. */
static void run_for(uv_loop_t *loop, uint64_t ms) {
  uint64_t until = uv_hrtime() + ms * 1000000u;
  while (uv_hrtime() < until) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(10000);
  }
}

int main(void) {
  const char *extra[] = {"--max-pids", MAX_PIDS_ARG, NULL};
  char url[300], mount_dir[512], sb_cg[1200], needle[300], *body = NULL, *p;
  noxd_test_t t;
  long code, cur, most = 0;

  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
  find_mount(mount_dir, sizeof(mount_dir));
  static const char *const ids[] = {"probe", "bomb", "calm"};
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    snprintf(url, sizeof(url), "%s/v1/sandboxes/%s", t.srv.url, ids[i]);
    ASSERT_EQ(noxd_http("PUT", url, NULL, NULL, NULL), 200);
  }

  /* Where noxd puts a command: skip when it has no cgroup at all. */
  snprintf(url, sizeof(url), "%s/v1/sandboxes/probe/exec", t.srv.url);
  static const char probe[] = "{\"cmd\":[\"grep\",\"pids\",\"/proc/self/"
                              "cgroup\"]}";
  noxd_http_opts_t ho = {NULL, probe, sizeof(probe) - 1, false};
  ASSERT_EQ(noxd_http("POST", url, &ho, &body, NULL), 200);
  p = strstr(body, ":/noxrunner-");
  if (mount_dir[0] == '\0' || p == NULL) {
    printf("noxd runs commands without a pids cgroup here: skipped\n");
    free(body);
    ASSERT_EQ(noxd_test_stop(&t), 0);
    nox_library_cleanup();
    return 77;
  }
  /* ":/noxrunner-UID/ROOTHASH/sb-probe/..." */
  p += 1;
  p[strcspn(p, "\\\"")] = '\0';
  ASSERT(strstr(p, "/sb-probe") != NULL);
  *strstr(p, "/sb-probe") = '\0';
  snprintf(root_cg, sizeof(root_cg), "%s%s", mount_dir, p);
  snprintf(needle, sizeof(needle), "%s/sb-bomb/", p);
  free(body);
  signal(SIGABRT, on_abort);
  snprintf(sb_cg, sizeof(sb_cg), "%s/sb-bomb", root_cg);
  printf("noxd's commands run under %s\n", root_cg);

  /* The bomb: forks without end, while its first shell waits to be killed. */
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = t.srv.url;
  nox_client_t *c;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  static const char *const bomb[] = {"sh", "-c",
                                     "b(){ b|b& }; b; exec sleep 3100", NULL};
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  eo.timeout_seconds = 6;
  outcome_t out = {0, 0, 0};
  ASSERT_EQ(nox_exec(NULL, c, "bomb", bomb, &eo, on_exec, &out), 0);

  /* While it rages: the cap holds, and noxd serves everyone else. */
  char health[300], calm[300];
  snprintf(health, sizeof(health), "%s/healthz", t.srv.url);
  snprintf(calm, sizeof(calm), "%s/v1/sandboxes/calm/exec", t.srv.url);
  static const char echo[] = "{\"cmd\":[\"echo\",\"still here\"]}";
  noxd_http_opts_t eho = {NULL, echo, sizeof(echo) - 1, false};
  int rounds = 0, during = 0;
  while (!out.done) {
    run_for(&loop, 100);
    cur = read_number(sb_cg, "pids.current");
    if (cur > most)
      most = cur;
    ASSERT_LE(cur, MAX_PIDS);
    if (out.done || rounds >= 5)
      continue;
    rounds++;
    ASSERT_EQ(nox_test_http("GET", health, NULL), 200);
    ASSERT_EQ(noxd_http("POST", calm, &eho, &body, NULL), 200);
    ASSERT(strstr(body, "\"exitCode\":0") != NULL);
    ASSERT(strstr(body, "still here") != NULL);
    free(body);
    /* Served while the bomb was there before and after: during it. */
    if (cur > 0 && read_number(sb_cg, "pids.current") > 0)
      during++;
  }
  printf("  the bomb's sandbox held at most %ld processes (cap %d); "
         "%d of %d rounds of /healthz and exec elsewhere served during it\n",
         most, MAX_PIDS, during, rounds);
  ASSERT_GE(during, 1);
  ASSERT_GT(most, MAX_PIDS / 2); /* it really was a bomb */
  ASSERT_EQ(out.status, 0);
  ASSERT_EQ(out.exit_code, 124);

  /* Afterwards nothing of it is left, and its cgroup goes (bounded waits). */
  int i;
  for (i = 0; i < 1200 && processes_in(needle) > 0; i++)
    run_for(&loop, 25);
  ASSERT_EQ(processes_in(needle), 0);
  for (i = 0; i < 1200 && subdirs(sb_cg) > 0; i++)
    run_for(&loop, 25);
  ASSERT_EQ(subdirs(sb_cg), 0); /* the command's cgroup is gone */
  ASSERT_EQ(read_number(sb_cg, "cgroup.procs"), -1); /* empty */

  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(noxd_test_alive(&t));
  ASSERT_EQ(nox_test_http("GET", health, NULL), 200);
  code = noxd_test_stop(&t);
  ASSERT_EQ(code, 0);
  /* Stopped, noxd left none of this root's cgroups behind. */
  ASSERT(!exists(root_cg));
  nox_library_cleanup();
  return 0;
}
