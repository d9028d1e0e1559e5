/*
 * The journal after a crash: a child process creates sandboxes with a
 * journal, releases two of them, and is killed with SIGKILL; the parent
 * reaps the journal and the sandboxes the child still held are gone, the
 * released ones were not touched twice, and the journal is removed.
 * argv[1]: local or noxd; "child URL JOURNAL" runs the child.
 */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "sandbox_util.h"

#define N 12

extern char **environ;

static int ready;

static void on_ready(nox_sandbox_t *sb, int status) {
  (void)sb;
  ASSERT_EQ(status, 0);
  ready++;
}

static int child(const char *url, const char *journal) {
  uv_loop_t loop;
  nox_client_t *c = NULL;
  nox_sandbox_t *sbs[N];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  o.isolation = NOX_ISOLATION_NONE;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  ro.journal_path = journal;
  ro.journal_fsync = 1;
  ASSERT_EQ(nox_registry_configure(c, &ro), 0);
  nox_sandbox_options_t so = NOX_SANDBOX_OPTIONS_INIT;
  so.lease = 1;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof(id), "crash %d/x", i); /* encoded in the journal */
    ASSERT_EQ(nox_sandbox_new(&sbs[i], c, id, &so, on_ready, NULL), 0);
  }
  while (ready < N)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(st_release(sbs[0]), 0);
  ASSERT_EQ(st_release(sbs[1]), 0);
  printf("ready\n");
  fflush(stdout);
  /* Keeps leasing until the parent kills it. */
  uv_run(&loop, UV_RUN_DEFAULT);
  return 1;
}

static int reaped;
static nox_release_report_t rep;

static void on_reaped(nox_client_t *c, const nox_release_report_t *r,
                      void *data) {
  (void)c;
  (void)data;
  rep = *r;
  reaped = 1;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "child") == 0)
    return child(argv[2], argv[3]);

  st_env_t env;
  uv_loop_t loop;
  char journal[600];
  st_setup(&env, argc, argv);
  snprintf(journal, sizeof(journal), "%s.journal", env.root);
  unlink(journal);

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  ASSERT_EQ(posix_spawn_file_actions_init(&fa), 0);
  ASSERT_EQ(posix_spawn_file_actions_adddup2(&fa, fds[1], 1), 0);
  ASSERT_EQ(posix_spawn_file_actions_addclose(&fa, fds[0]), 0);
  char *cargv[] = {"/proc/self/exe", "child", env.url, journal, NULL};
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, cargv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  char line[16] = {0};
  FILE *f = fdopen(fds[0], "r");
  ASSERT(f != NULL);
  ASSERT(fgets(line, sizeof(line), f) != NULL);
  ASSERT_STR_EQ(line, "ready\n");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int ws;
  ASSERT_EQ(waitpid(pid, &ws, 0), pid);
  ASSERT(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
  fclose(f);
  ASSERT_EQ(lt_count_sandboxes(env.root), N - 2);

  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_t *c = st_client(&env, &loop, NULL);
  ASSERT_EQ(nox_journal_reap(c, journal, on_reaped, NULL), 0);
  ASSERT_EQ(reaped, 0);
  while (!reaped)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(rep.released, N - 2);
  ASSERT_EQ(rep.failed, 0);
  ASSERT_EQ(lt_count_sandboxes(env.root), 0);
  ASSERT_EQ(access(journal, F_OK), -1);

  /* A missing journal reaps nothing. */
  reaped = 0;
  ASSERT_EQ(nox_journal_reap(c, journal, on_reaped, NULL), 0);
  while (!reaped)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(rep.released, 0);

  /* The client's own journal cannot be reaped while in use. */
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  ro.journal_path = journal;
  ASSERT_EQ(nox_registry_configure(c, &ro), 0);
  ASSERT_EQ(nox_journal_reap(c, journal, on_reaped, NULL), NOX_EINVAL);
  lt_close(c);
  ASSERT_LOOP_CLOSES(&loop);
  unlink(journal);
  st_teardown(&env);
  return 0;
}
