/*
 * The local backend's pids cgroups, with real processes and isolation none
 * (where a process can really leave its group): commands run in a cgroup of
 * their own, local_max_pids caps them, and whatever a command started (even
 * a process that called setsid()) dies when the command exits, times out, or
 * its sandbox is deleted or reaped, by this client or another on the root.
 * Nothing of a root's cgroups is left once its clients are closed.
 *
 * Exits 77 (skipped) where no pids cgroup can be made, e.g. as non-root.
 */
#include <errno.h>
#include <mntent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "local_util.h"

static char mount_dir[512];
static char root_cg[1024]; /* this root's cgroups, once known */

static void find_mount(void) {
  struct mntent *m;
  FILE *f = setmntent("/proc/self/mounts", "r");

  ASSERT(f != NULL);
  while ((m = getmntent(f)) != NULL)
    if (strcmp(m->mnt_type, "cgroup") == 0 && hasmntopt(m, "pids") != NULL)
      snprintf(mount_dir, sizeof(mount_dir), "%s", m->mnt_dir);
  endmntent(f);
}

/* SIGKILLs every process in dir's cgroup tree; returns how many. */
static int kill_tree(const char *dir) {
  char path[2048];
  struct dirent *de;
  FILE *f;
  long pid;
  int n = 0;
  DIR *d;

  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  if ((f = fopen(path, "r")) != NULL) {
    while (fscanf(f, "%ld", &pid) == 1)
      n += kill((pid_t)pid, SIGKILL) == 0;
    fclose(f);
  }
  if ((d = opendir(dir)) == NULL)
    return n;
  while ((de = readdir(d)) != NULL) {
    if (de->d_type == DT_DIR && de->d_name[0] != '.') {
      snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
      n += kill_tree(path);
    }
  }
  closedir(d);
  return n;
}

/* A failed ASSERT must not leave a test's processes running. */
static void on_abort(int sig) {
  if (root_cg[0] != '\0')
    kill_tree(root_cg);
  signal(sig, SIG_DFL);
  raise(sig);
}

static nox_client_t *client(uv_loop_t *loop, const char *root, uint32_t pids,
                            uint32_t reap_ms) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.isolation = NOX_ISOLATION_NONE;
  o.local_max_pids = pids;
  o.reap_interval_ms = reap_ms;
  return lt_client_with(loop, root, &o);
}

static int sh(nox_client_t *c, const char *id, uint32_t timeout,
              const char *script, lt_res_t *r) {
  const char *argv[] = {"sh", "-c", script, NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;

  o.timeout_seconds = timeout;
  int st = lt_exec_opts(c, id, argv, &o, r);
  if (st != 0)
    fprintf(stderr, "exec failed: %s: %s\n", nox_err_name(st), r->msg);
  return st;
}

static void start_sh(nox_client_t *c, const char *id, const char *script,
                     lt_res_t *r) {
  const char *argv[] = {"sh", "-c", script, NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;

  o.timeout_seconds = 60;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_exec(NULL, c, id, argv, &o, lt_on_exec, r), 0);
}

/* Leaves the session, then waits as sleep $((n+1)) to be killed. */
#define ESCAPE_AND_WAIT "setsid sleep $n >/dev/null 2>&1 & exec sleep $((n+1))"

static unsigned base; /* sleep times of this process's commands */

/* "n=BASE+k; " then body, into buf (512 bytes). */
static void script(char *buf, const char *body, unsigned k) {
  snprintf(buf, 512, "n=%u; %s", base + k, body);
}

/* What the command line of the sleep started with n=BASE+k holds. */
static const char *token(unsigned k) {
  static char t[16][32];
  snprintf(t[k], sizeof(t[k]), "sleep %u", base + k);
  return t[k];
}

/* A steady stream of short commands into one sandbox. */
#define STREAM_TOTAL 400
#define STREAM_WIDTH 3

typedef struct {
  nox_client_t *clients[2];
  int started, done, failed;
} stream_t;

static void stream_next(stream_t *st);

static void on_stream_exec(nox_req_t *req, int status,
                           const nox_exec_result_t *res) {
  stream_t *st = nox_req_data(req);

  st->done++;
  if (status != 0 || res->exit_code != 0) {
    fprintf(stderr, "exec failed: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
    st->failed++;
  }
  stream_next(st);
}

static void stream_next(stream_t *st) {
  const char *argv[] = {"true", NULL};

  if (st->started == STREAM_TOTAL)
    return;
  ASSERT_EQ(nox_exec(NULL, st->clients[st->started % 2], "many", argv, NULL,
                     on_stream_exec, st),
            0);
  st->started++;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/*
 * The waits below are bounded generously (30 s): the machine may be loaded,
 * and a bound is only there so that a failure ends.
 */
#define WAIT_ROUNDS 1200 /* of 25 ms */

/* Waits (bounded) for a cgroup directory to be removed. */
static int removed(uv_loop_t *loop, const char *path) {
  for (int i = 0; i < WAIT_ROUNDS && exists(path); i++)
    lt_sleep(loop, 25);
  return !exists(path);
}

/* Waits (bounded) until no process has token in its command line. */
static int gone(uv_loop_t *loop, const char *token) {
  for (int i = 0; i < WAIT_ROUNDS && lt_host_has_process(token); i++)
    lt_sleep(loop, 25);
  return !lt_host_has_process(token);
}

/* Waits (bounded) until token shows up in some process's command line. */
static void wait_started(uv_loop_t *loop, const char *token,
                         const lt_res_t *r) {
  for (int i = 0; i < WAIT_ROUNDS && !lt_host_has_process(token); i++) {
    if (r->done) /* the command must still be running */
      fprintf(stderr,
              "waiting for \"%s\": the command ended: %s %s, exit %d, "
              "stderr %s\n",
              token, nox_err_name(r->status), r->msg, r->exit_code,
              r->err ? r->err : "");
    ASSERT(!r->done);
    lt_sleep(loop, 25);
  }
  if (!lt_host_has_process(token))
    fprintf(stderr, "\"%s\" never showed up\n", token);
  ASSERT(lt_host_has_process(token));
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot();
  char cmd_cg[1024], sb_cg[1024], buf[512], *p;
  nox_client_t *c, *other;
  lt_res_t r, bg, bg2;
  int st;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  find_mount();
  c = client(&loop, root, 12, 0);
  {
    static const char *const ids[] = {"a", "capped", "full", "t", "b", "many"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
      ASSERT_EQ(lt_create(c, ids[i], 0, &r), 0);
  }

  /* A command runs in a cgroup of its own, below its sandbox's. */
  ASSERT_EQ(sh(c, "a", 30,
               "grep -E '^[0-9]+:([^:]*,)?pids(,[^:]*)?:' "
               "/proc/self/cgroup",
               &r),
            0);
  p = strstr(r.out, ":/noxrunner-");
  if (mount_dir[0] == '\0' || p == NULL) {
    printf("no usable pids cgroup here (%s): skipped\n", r.out);
    lt_res_free(&r);
    lt_close(c);
    ASSERT_LOOP_CLOSES(&loop);
    lt_rmroot(root);
    return 77;
  }
  p[strcspn(p, "\n")] = '\0';
  snprintf(cmd_cg, sizeof(cmd_cg), "%s%s", mount_dir, p + 1);
  lt_res_free(&r);
  snprintf(sb_cg, sizeof(sb_cg), "%s", cmd_cg);
  *strrchr(sb_cg, '/') = '\0';
  ASSERT(strstr(sb_cg, "/sb-a") != NULL);
  snprintf(root_cg, sizeof(root_cg), "%s", sb_cg);
  *strrchr(root_cg, '/') = '\0';
  signal(SIGABRT, on_abort);
  printf("commands of this root run under %s\n", root_cg);
  /*
   * ...which goes with the command. (The sandbox's stays for the next one,
   * unless another process's new client sweeps it meanwhile.)
   */
  ASSERT(removed(&loop, cmd_cg));

  /*
   * local_max_pids: the 13th process of the sandbox cannot be made. Its own
   * sandbox: the killed sleeps count until they are reaped, and an init
   * may reap orphans lazily. Sleep times are unique to this process and
   * computed by the shell, so only the sleeps have the token in their
   * command line.
   */
  base = 1000000u + (unsigned)getpid() % 1000000u * 10u;
  script(buf,
         "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do "
         "sleep $n & done; echo unreachable",
         1);
  ASSERT_EQ(sh(c, "capped", 30, buf, &r), 0);
  printf("16 sleeps under a cap of 12: exit %d, %s", r.exit_code, r.err);
  ASSERT_NE(r.exit_code, 0);
  ASSERT(strstr(r.out, "unreachable") == NULL);
  ASSERT(strstr(r.err, "fork") != NULL);
  lt_res_free(&r);
  /* The sleeps it did start went with it. */
  ASSERT(gone(&loop, token(1)));

  /*
   * A sandbox at its cap runs no further command: nothing can start. The
   * spawning thread counts while it is inside for a spawn, so the command
   * below leaves it a place (11 of 12) and the next spawn is the 13th.
   */
  script(buf,
         "for i in 1 2 3 4 5 6 7 8 9 10; do sleep $n & done; "
         "exec sleep $((n+1))",
         9);
  start_sh(c, "full", buf, &bg);
  wait_started(&loop, token(10), &bg);
  {
    const char *argv[] = {"true", NULL};
    ASSERT_EQ(lt_exec_opts(c, "full", argv, NULL, &r), NOX_EUNAVAIL);
    ASSERT(strstr(r.msg, "at its process limit (12)") != NULL);
  }
  ASSERT_EQ(lt_simple(nox_delete, c, "full"), 0);
  lt_wait(&loop, &bg);
  lt_res_free(&bg);
  ASSERT(gone(&loop, token(9)));
  ASSERT(gone(&loop, token(10)));

  /* A process that left the command's session dies when the command exits. */
  script(buf,
         "setsid sleep $n >/dev/null 2>&1 & p=$!; sleep 0.3; "
         "s=$(cut -d' ' -f6 /proc/$p/stat); "
         "[ \"$s\" != \"$$\" ] && [ \"$s\" = \"$p\" ] && echo escaped",
         2);
  ASSERT_EQ(sh(c, "a", 30, buf, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_STR_EQ(r.out, "escaped\n");
  lt_res_free(&r);
  ASSERT(gone(&loop, token(2)));

  /* ...and when the command times out. */
  script(buf, ESCAPE_AND_WAIT, 3);
  ASSERT_EQ(sh(c, "t", 1, buf, &r), 0);
  ASSERT_EQ(r.exit_code, 124);
  lt_res_free(&r);
  ASSERT(gone(&loop, token(3)));
  ASSERT(gone(&loop, token(4)));

  /* ...and when another client on the root deletes the sandbox. */
  other = client(&loop, root, 0, 200);
  script(buf, ESCAPE_AND_WAIT, 5);
  start_sh(c, "b", buf, &bg);
  wait_started(&loop, token(5), &bg);
  wait_started(&loop, token(6), &bg);
  ASSERT_EQ(lt_simple(nox_delete, other, "b"), 0);
  lt_wait(&loop, &bg);
  if (bg.status != 0)
    fprintf(stderr, "exec failed: %s\n", bg.msg);
  ASSERT_EQ(bg.status, 0);
  ASSERT_EQ(bg.exit_code, 128 + SIGKILL);
  lt_res_free(&bg);
  ASSERT(gone(&loop, token(5)));
  /* The sandbox's cgroup went with it (its command's, with the command). */
  snprintf(sb_cg, sizeof(sb_cg), "%s/sb-b", root_cg);
  ASSERT(removed(&loop, sb_cg));

  /*
   * ...and when the sandbox expires and the other client's reaper runs. The
   * ttl is cut to 1 s once the command runs (create of a live id sets it).
   */
  ASSERT_EQ(lt_create(c, "short", 600, &r), 0);
  script(buf, ESCAPE_AND_WAIT, 7);
  start_sh(c, "short", buf, &bg2);
  wait_started(&loop, token(7), &bg2);
  wait_started(&loop, token(8), &bg2);
  ASSERT_EQ(lt_create(c, "short", 1, &r), 0);
  lt_wait(&loop, &bg2);
  ASSERT_EQ(bg2.exit_code, 128 + SIGKILL);
  lt_res_free(&bg2);
  ASSERT(gone(&loop, token(7)));

  /*
   * Commands of one sandbox starting while others end, from two clients:
   * an end may remove the sandbox's cgroup just as a start makes its own
   * below it (seen as ENODEV from mkdir). Every one must run.
   */
  stream_t sm = {{c, other}, 0, 0, 0};
  for (int i = 0; i < STREAM_WIDTH; i++)
    stream_next(&sm);
  while (sm.done < STREAM_TOTAL)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(sm.failed, 0);

  /*
   * A process that died without closing its client left a command's cgroup
   * with a process in it, under a root never used again: the next client
   * anywhere kills what it holds and removes it.
   */
  {
    char top[1100], stale[1300], procs[1400], pidtext[32];
    pid_t dead = fork(), sleeper;
    ASSERT(dead >= 0);
    if (dead == 0)
      _exit(0);
    ASSERT_EQ(waitpid(dead, NULL, 0), dead);
    snprintf(top, sizeof(top), "%s", root_cg);
    *strrchr(top, '/') = '\0';
    snprintf(stale, sizeof(stale), "%s/00000000deadbeef", top);
    ASSERT_EQ(mkdir(stale, 0755), 0);
    strcat(stale, "/sb-crashed");
    ASSERT_EQ(mkdir(stale, 0755), 0);
    struct stat ns;
    ASSERT_EQ(stat("/proc/self/ns/pid", &ns), 0);
    snprintf(stale + strlen(stale), 80, "/%llx-%ld-1",
             (unsigned long long)ns.st_ino, (long)dead);
    ASSERT_EQ(mkdir(stale, 0755), 0);
    sleeper = fork();
    ASSERT(sleeper >= 0);
    if (sleeper == 0) {
      execlp("sleep", "sleep", "60", (char *)NULL);
      _exit(127);
    }
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", stale);
    snprintf(pidtext, sizeof(pidtext), "%ld", (long)sleeper);
    FILE *f = fopen(procs, "w");
    ASSERT(f != NULL);
    ASSERT(fputs(pidtext, f) >= 0);
    ASSERT_EQ(fclose(f), 0);
    nox_client_t *fresh = client(&loop, root, 0, 0);
    ASSERT_EQ(waitpid(sleeper, &st, 0), sleeper);
    ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ASSERT(!exists(stale));
    *strrchr(stale, '/') = '\0';
    *strrchr(stale, '/') = '\0';
    ASSERT(!exists(stale));
    lt_close(fresh);
  }

  /* Closing the clients leaves nothing of this root's cgroups behind. */
  lt_close(other);
  lt_close(c);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(!exists(root_cg));
  lt_rmroot(root);
  return 0;
}
