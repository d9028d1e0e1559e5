/*
 * Isolation: bubblewrap detection and the command line each exec runs.
 *
 * With bwrap, a command sees read-only system directories, a few files of
 * /etc, its own /proc, /dev and /tmp, and its sandbox's workspace at
 * /workspace; it has no network, its own pid, ipc and uts namespaces, no
 * capabilities, and dies with its parent. Nothing else of the host exists
 * for it: not the other sandboxes, not the root directory.
 *
 * Limits are rlimits set by a /bin/sh wrapper that then execs the command
 * ("ulimit -v" for memoryLimit as address space, "ulimit -t" for cpuLimit as
 * a CPU-seconds budget: cores x the exec's timeout). cgroups are not used
 * for these: they need a delegated, writable hierarchy that neither
 * root-in-a-container nor ordinary users can count on; only the pids cap
 * is a cgroup, where one can be made (cgroup.c). Inside bwrap the wrapper
 * is always used, because bwrap reports a missing program as its own exit
 * status 1, while the shell's exec gives the conventional 127 (126 when not
 * executable).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h> /* isfinite, a macro */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "local/local.h"

#define DEFAULT_PATH                                                           \
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

/* Top-level directories that are either usr-merged symlinks or real. */
static const char *const system_dirs[] = {"/bin",   "/sbin",  "/lib",
                                          "/lib32", "/lib64", "/libx32"};

/* What of /etc programs commonly need; everything else of it stays out. */
static const char *const etc_files[] = {
    "/etc/alternatives", "/etc/ld.so.cache",   "/etc/ld.so.conf",
    "/etc/ld.so.conf.d", "/etc/localtime",     "/etc/passwd",
    "/etc/group",        "/etc/nsswitch.conf", "/etc/hosts"};

#define N_SYSTEM (sizeof(system_dirs) / sizeof(system_dirs[0]))
#define N_ETC (sizeof(etc_files) / sizeof(etc_files[0]))

/* ---- limits ------------------------------------------------------------- */

/*
 * Parses a Kubernetes-style quantity ("512Mi", "1G", "500m", "0.5") into
 * units (bytes, or thousandths of a core with cpu). Returns 0 or -1.
 */
static int parse_quantity(const char *s, int cpu, uint64_t *out) {
  static const struct {
    const char *suffix;
    double mult;
  } units[] = {{"Ki", 1024.0},
               {"Mi", 1048576.0},
               {"Gi", 1073741824.0},
               {"Ti", 1099511627776.0},
               {"Pi", 1125899906842624.0},
               {"Ei", 1152921504606846976.0},
               {"k", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"P", 1e15},
               {"E", 1e18}};
  double v, mult = 0;
  char *end;
  size_t i;

  if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 64)
    return -1;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || !isfinite(v) || v <= 0)
    return -1;
  if (*end == '\0')
    mult = cpu ? 1000 : 1;
  else if (strcmp(end, "m") == 0)
    mult = cpu ? 1 : 0.001;
  for (i = 0; !cpu && mult == 0 && i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(end, units[i].suffix) == 0)
      mult = units[i].mult;
  if (mult == 0)
    return -1;
  v *= mult;
  if (v > 1.8e19)
    return -1;
  *out = (uint64_t)v;
  if ((double)*out < v)
    (*out)++; /* round up: a limit never shrinks below what was asked */
  return *out > 0 ? 0 : -1;
}

int nox__local_parse_limits(const nox__local_meta_t *m,
                            nox__local_limits_t *out, char *msg, size_t len) {
  uint64_t unused;

  memset(out, 0, sizeof(*out));
  if (m->memory_limit != NULL &&
      parse_quantity(m->memory_limit, 0, &out->memory_bytes) != 0) {
    snprintf(msg, len, "invalid memoryLimit \"%.64s\"", m->memory_limit);
    return NOX_EINVAL;
  }
  if (m->cpu_limit != NULL &&
      parse_quantity(m->cpu_limit, 1, &out->cpu_millis) != 0) {
    snprintf(msg, len, "invalid cpuLimit \"%.64s\"", m->cpu_limit);
    return NOX_EINVAL;
  }
  if (m->storage_limit != NULL &&
      parse_quantity(m->storage_limit, 0, &unused) != 0) {
    snprintf(msg, len, "invalid ephemeralStorageLimit \"%.64s\"",
             m->storage_limit);
    return NOX_EINVAL;
  }
  return 0;
}

/* ---- bwrap -------------------------------------------------------------- */

#define BWRAP_BASE_MAX (16 + 3 * N_SYSTEM + 3 * N_ETC)
#define BWRAP_MAX_ARGS (BWRAP_BASE_MAX + 8)

/*
 * bwrap's options common to every command, read from this host once: the
 * usr-merged directories are symlinks to mirror, or directories to bind.
 * The strings are copies owned by the array (NULL-terminated).
 */
static char **bwrap_base(const char *bwrap) {
  static const char *const head[] = {"--unshare-all", "--die-with-parent",
                                     "--cap-drop",    "ALL",
                                     "--ro-bind",     "/usr",
                                     "/usr"};
  static const char *const tail[] = {"--proc", "/proc",   "--dev",
                                     "/dev",   "--tmpfs", "/tmp"};
  const char *argv[BWRAP_BASE_MAX + 1];
  char links[N_SYSTEM][256];
  struct stat st;
  size_t n = 0, i, j;
  ssize_t len;
  char **out;

  argv[n++] = bwrap;
  for (i = 0; i < sizeof(head) / sizeof(head[0]); i++)
    argv[n++] = head[i];
  for (i = 0; i < N_SYSTEM; i++) {
    if (lstat(system_dirs[i], &st) != 0)
      continue;
    if (S_ISLNK(st.st_mode)) {
      len = readlink(system_dirs[i], links[i], sizeof(links[i]) - 1);
      if (len <= 0)
        continue;
      links[i][len] = '\0';
      argv[n++] = "--symlink";
      argv[n++] = links[i];
    } else if (S_ISDIR(st.st_mode)) {
      argv[n++] = "--ro-bind";
      argv[n++] = system_dirs[i];
    } else {
      continue;
    }
    argv[n++] = system_dirs[i];
  }
  for (i = 0; i < N_ETC; i++) {
    argv[n++] = "--ro-bind-try";
    argv[n++] = etc_files[i];
    argv[n++] = etc_files[i];
  }
  for (i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
    argv[n++] = tail[i];

  out = calloc(n + 1, sizeof(*out));
  for (i = 0; out != NULL && i < n; i++) {
    if ((out[i] = strdup(argv[i])) == NULL) {
      for (j = 0; j < i; j++)
        free(out[j]);
      free(out);
      out = NULL;
    }
  }
  return out;
}

/* The full bwrap command line for one sandbox, up to and with "--". */
static size_t bwrap_args(char *const *base, const char *workspace,
                         const char *innerdir, const char **argv) {
  size_t n = 0;

  while (base[n] != NULL) {
    argv[n] = base[n];
    n++;
  }
  argv[n++] = "--bind";
  argv[n++] = workspace;
  argv[n++] = NOX__LOCAL_WORKSPACE;
  argv[n++] = "--chdir";
  argv[n++] = innerdir;
  argv[n++] = "--";
  return n;
}

static char *find_in_path(const char *prog) {
  const char *path = getenv("PATH"), *p, *end;
  char *cand;
  size_t n;

  if (path == NULL)
    path = DEFAULT_PATH;
  for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
    end = strchr(p, ':');
    if (end == NULL)
      end = p + strlen(p);
    n = (size_t)(end - p);
    if (n == 0)
      continue;
    cand = malloc(n + strlen(prog) + 2);
    if (cand == NULL)
      return NULL;
    sprintf(cand, "%.*s/%s", (int)n, p, prog);
    if (access(cand, X_OK) == 0)
      return cand;
    free(cand);
  }
  return NULL;
}

/*
 * Runs a sandboxed `sh -c "exit 0"` exactly as commands will run, so a
 * bwrap that is installed but cannot make namespaces here (no user
 * namespaces, seccomp) counts as unusable. It blocks client creation for
 * the few milliseconds this takes, once per client.
 */
static int probe(char *const *base, const char *root) {
  const char *argv[BWRAP_MAX_ARGS + 4];
  char *envp[] = {"PATH=" DEFAULT_PATH, NULL};
  posix_spawn_file_actions_t fa;
  size_t n;
  pid_t pid;
  int st, r;

  n = bwrap_args(base, root, NOX__LOCAL_WORKSPACE, argv);
  argv[n++] = "/bin/sh";
  argv[n++] = "-c";
  argv[n++] = "exit 0";
  argv[n] = NULL;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return -1;
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  r = posix_spawn(&pid, base[0], &fa, NULL, (char *const *)argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0)
    return -1;
  /* Our own child by pid: libuv only ever waits for the pids it spawned. */
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int nox__local_isolation_init(nox__local_t *l) {
  int mode = l->client->opts.isolation;
  char *bwrap, **base = NULL;

  if (mode == NOX_ISOLATION_NONE)
    return 0;
  bwrap = find_in_path("bwrap");
  if (bwrap != NULL) {
    base = bwrap_base(bwrap);
    free(bwrap);
    if (base == NULL)
      return NOX_ENOMEM;
    if (probe(base, l->root) != 0) {
      nox__strv_free(base);
      base = NULL;
    }
  }
  if (base == NULL && mode == NOX_ISOLATION_BWRAP)
    return NOX_EISOLATION;
  l->bwrap = base;
  l->warn_unisolated = base == NULL;
  return 0;
}

void nox__local_isolation_free(nox__local_t *l) {
  nox__strv_free(l->bwrap);
  l->bwrap = NULL;
}

int nox__local_command(const nox__local_t *l, const nox__local_job_t *job,
                       char *const *cmd, uint32_t timeout_seconds, char *script,
                       size_t scriptlen, const char ***argv_out,
                       const char **cwd) {
  nox__local_limits_t lim;
  const char **argv;
  size_t n = 0, ncmd = 0, used = 0;
  int r;

  r = nox__local_parse_limits(&job->meta, &lim, script, scriptlen);
  if (r != 0)
    return r;
  while (cmd[ncmd] != NULL)
    ncmd++;
  argv = malloc((BWRAP_MAX_ARGS + 4 + ncmd + 1) * sizeof(*argv));
  if (argv == NULL)
    return NOX_ENOMEM;

  *cwd = job->hostdir;
  if (l->bwrap != NULL) {
    n = bwrap_args(l->bwrap, job->workspace, job->innerdir, argv);
    *cwd = job->workspace;
  }
  if (l->bwrap != NULL || lim.memory_bytes != 0 || lim.cpu_millis != 0) {
    script[0] = '\0';
    if (lim.memory_bytes != 0)
      used += (size_t)snprintf(
          script, scriptlen, "ulimit -v %llu || exit 125; ",
          (unsigned long long)((lim.memory_bytes + 1023) / 1024));
    if (lim.cpu_millis != 0) {
      /* SIGXCPU at the budget (catchable), SIGKILL a second later. */
      uint64_t secs = (lim.cpu_millis * (uint64_t)timeout_seconds + 999) / 1000;
      if (secs == 0)
        secs = 1;
      used += (size_t)snprintf(script + used, scriptlen - used,
                               "ulimit -S -t %llu && ulimit -H -t %llu || "
                               "exit 125; ",
                               (unsigned long long)secs,
                               (unsigned long long)secs + 1);
    }
    snprintf(script + used, scriptlen - used, "exec \"$@\"");
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = script;
    argv[n++] = "sh";
  }
  memcpy(argv + n, cmd, (ncmd + 1) * sizeof(*argv));
  *argv_out = argv;
  return 0;
}
