/*
 * Commands get a clean environment (a default PATH, HOME, LANG and what
 * the caller passes; nothing of the host's), and a sandbox's memoryLimit
 * and cpuLimit become rlimits of each of its commands. In every isolation
 * mode this machine offers.
 */
#include "local_util.h"

/*
 * 1 when every variable in env output is one of names (a NULL-terminated
 * list). PWD is allowed too: a shell wrapper exports it, truthfully.
 */
static int only_names(const char *out, const char *const *names) {
  const char *p = out, *eq;
  size_t i;
  while (*p != '\0') {
    eq = strchr(p, '=');
    if (eq == NULL)
      return 0;
    for (i = 0; names[i] != NULL; i++)
      if (strlen(names[i]) == (size_t)(eq - p) &&
          strncmp(p, names[i], (size_t)(eq - p)) == 0)
        break;
    if (names[i] == NULL && strncmp(p, "PWD=", 4) != 0)
      return 0;
    p = strchr(p, '\n');
    if (p == NULL)
      break;
    p++;
  }
  return 1;
}

/* The value of NAME in env output, or NULL. */
static const char *env_value(const char *out, const char *name, char *buf,
                             size_t len) {
  size_t n = strlen(name);
  const char *p = out, *end;
  while (*p != '\0') {
    end = strchr(p, '\n');
    if (end == NULL)
      end = p + strlen(p);
    if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
      snprintf(buf, len, "%.*s", (int)(end - p - n - 1), p + n + 1);
      return buf;
    }
    p = *end ? end + 1 : end;
  }
  return NULL;
}

static void check_env(nox_client_t *c, int isolated) {
  const char *argv[] = {"env", NULL};
  const char *env[] = {"FOO=bar baz", "LANG=fr_FR.UTF-8", "EMPTY=", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  const char *defaults[] = {"PATH", "HOME", "LANG", NULL};
  const char *all[] = {"PATH", "HOME", "LANG", "FOO", "EMPTY", NULL};
  char v[4096];
  lt_res_t r;

  ASSERT_EQ(setenv("NOX_LOCAL_SECRET", "must-not-leak", 1), 0);
  ASSERT_EQ(lt_create(c, "env", 0, &r), 0);
  ASSERT_EQ(lt_exec_opts(c, "env", argv, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT(strstr(r.out, "must-not-leak") == NULL);
  ASSERT(strstr(r.out, "NOX_LOCAL_SECRET") == NULL);
  ASSERT(env_value(r.out, "PATH", v, sizeof(v)) != NULL);
  ASSERT(strstr(v, "/usr/bin") != NULL);
  ASSERT_STR_EQ(env_value(r.out, "LANG", v, sizeof(v)), "C.UTF-8");
  ASSERT(env_value(r.out, "HOME", v, sizeof(v)) != NULL);
  if (isolated)
    ASSERT_STR_EQ(v, "/workspace");
  else
    ASSERT(strstr(v, "/workspace") != NULL && v[0] == '/');
  ASSERT(only_names(r.out, defaults));
  lt_res_free(&r);

  /* The caller's entries come on top, replacing defaults of the same name. */
  o.env = env;
  ASSERT_EQ(lt_exec_opts(c, "env", argv, &o, &r), 0);
  ASSERT_STR_EQ(env_value(r.out, "FOO", v, sizeof(v)), "bar baz");
  ASSERT_STR_EQ(env_value(r.out, "LANG", v, sizeof(v)), "fr_FR.UTF-8");
  ASSERT_STR_EQ(env_value(r.out, "EMPTY", v, sizeof(v)), "");
  ASSERT(strstr(r.out, "NOX_LOCAL_SECRET") == NULL);
  ASSERT(only_names(r.out, all));
  lt_res_free(&r);
}

static void check_limits(nox_client_t *c) {
  nox_create_options_t co = NOX_CREATE_OPTIONS_INIT;
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  const char *ulimits[] = {"sh", "-c", "ulimit -v; ulimit -t", NULL};
  const char *spin[] = {"sh", "-c", "while :; do :; done", NULL};
  /*
   * dd allocates its whole block at once; with count_bytes it then reads
   * one byte, so without a limit the 768 MiB stay untouched address space.
   */
  const char *hog[] = {"dd",      "if=/dev/zero",      "of=/dev/null",
                       "bs=768M", "iflag=count_bytes", "count=1",
                       NULL};
  lt_res_t r;

  /*
   * 128Mi of address space; a tenth of a core over the 20 s timeout is 2 s
   * of CPU, which a busy loop uses up long before the timeout unless it gets
   * less than a tenth of a core.
   */
  co.memory_limit = "128Mi";
  co.cpu_limit = "100m";
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_create(NULL, c, "limited", &co, lt_on_create, &r), 0);
  lt_wait(nox_client_loop(c), &r);
  ASSERT_EQ(r.status, 0);
  eo.timeout_seconds = 20;
  ASSERT_EQ(lt_exec_opts(c, "limited", ulimits, &eo, &r), 0);
  ASSERT_STR_EQ(r.out, "131072\n2\n");
  lt_res_free(&r);

  /* The limits bite: a big allocation fails, a busy loop gets SIGXCPU. */
  ASSERT_EQ(lt_exec_opts(c, "limited", hog, &eo, &r), 0);
  ASSERT_EQ(r.exit_code, 1);
  ASSERT(strstr(r.err, "memory exhausted") != NULL);
  lt_res_free(&r);
  uint64_t t0 = uv_hrtime();
  ASSERT_EQ(lt_exec_opts(c, "limited", spin, &eo, &r), 0);
  ASSERT_EQ(r.exit_code, 128 + 24); /* SIGXCPU, well before the timeout */
  ASSERT_LT((uv_hrtime() - t0) / 1000000, 19000);
  lt_res_free(&r);

  /* A sandbox without limits has none. */
  ASSERT_EQ(lt_exec_opts(c, "env", ulimits, &eo, &r), 0);
  ASSERT_STR_EQ(r.out, "unlimited\nunlimited\n");
  lt_res_free(&r);
  ASSERT_EQ(lt_exec_opts(c, "env", hog, &eo, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT(strstr(r.err, "memory exhausted") == NULL);
  lt_res_free(&r);

  /* Limits that are not quantities are refused, saying which. */
  co.memory_limit = "lots";
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_create(NULL, c, "bad", &co, lt_on_create, &r), 0);
  lt_wait(nox_client_loop(c), &r);
  ASSERT_EQ(r.status, NOX_EINVAL);
  ASSERT(strstr(r.msg, "memoryLimit") != NULL);
  co.memory_limit = NULL;
  co.cpu_limit = "-1";
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_create(NULL, c, "bad", &co, lt_on_create, &r), 0);
  lt_wait(nox_client_loop(c), &r);
  ASSERT_EQ(r.status, NOX_EINVAL);
  ASSERT(strstr(r.msg, "cpuLimit") != NULL);
  ASSERT_EQ(lt_simple(nox_touch, c, "bad"), NOX_ENOTFOUND);
}

static void run(uv_loop_t *loop, int isolation) {
  char *root = lt_mkroot();
  nox_client_t *c = lt_client(loop, root, isolation);
  check_env(c, isolation == NOX_ISOLATION_BWRAP);
  check_limits(c);
  lt_close(c);
  lt_rmroot(root);
}

int main(void) {
  uv_loop_t loop;
  char *probe_root = lt_mkroot();

  ASSERT_EQ(uv_loop_init(&loop), 0);
  run(&loop, NOX_ISOLATION_NONE);
  if (lt_have_bwrap(&loop, probe_root))
    run(&loop, NOX_ISOLATION_BWRAP);
  lt_rmroot(probe_root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
