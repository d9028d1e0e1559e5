/*
 * Per-sandbox pids cgroups: a cap on the processes and threads of one
 * sandbox's commands (a fork bomb hits it and nothing else), and a way to
 * kill every process a command started, including those that left its
 * process group with setsid() or were orphaned.
 *
 * Layout under the mount of the pids hierarchy (cgroup v1):
 *   noxrunner-UID/ROOTHASH/                   this root's sandboxes
 *   noxrunner-UID/ROOTHASH/SANDBOX/           pids.max: the sandbox's cap
 *   noxrunner-UID/ROOTHASH/SANDBOX/NS-PID-N/  one command
 * ROOTHASH (of the root's path, device and inode) keeps roots apart, so
 * two servers on different roots never share a sandbox's cgroup; processes
 * sharing a root do share it, as they share the sandbox. A command's
 * directory goes when the command has ended; a SANDBOX directory stays
 * between commands and goes with its sandbox (delete, expiry) or when a
 * client of the root closes, so nothing is left behind when a root is
 * thrown away. NS (the pid namespace) tells whose PID a directory names.
 *
 * A command enters its cgroup without a window outside it: in v1 the pids
 * controller is thread-granular, so the loop thread moves itself into the
 * command's cgroup for the uv_spawn() call only, and the child is born
 * inside. The thread counts against the sandbox's cap while it is there,
 * so a sandbox at its cap starts no further command (EAGAIN). cgroup v2
 * moves whole processes (threads only inside threaded subtrees, where the
 * pids controller cannot be used the same way), so v2 is not used: there
 * commands run without a cgroup, with a warning. Adding it would take a
 * spawn helper that moves itself before it execs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <mntent.h>
#include <sys/syscall.h>
#endif

#include "local/local.h"
#include "text.h"

#define DEFAULT_MAX_PIDS 1024u
/* Rounds of killing and waiting before a cgroup is given up on. */
#define DRAIN_ROUNDS 400
#define DRAIN_PAUSE_NS 5000000L

static char *join(const char *a, const char *b) {
  char *p = malloc(strlen(a) + strlen(b) + 2);

  if (p != NULL)
    sprintf(p, "%s/%s", a, b);
  return p;
}

/* Writes text to dir/file. Returns 0 or an errno value. */
static int write_file(const char *dir, const char *file, const char *text) {
  char path[4096];
  size_t n = strlen(text);
  int fd, err = 0;

  if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
    return ENAMETOOLONG;
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  if (write(fd, text, n) != (ssize_t)n)
    err = errno ? errno : EIO;
  close(fd);
  return err;
}

static int make_dir(const char *path) {
  return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void pause_briefly(void) {
  struct timespec ts = {0, DRAIN_PAUSE_NS};

  nanosleep(&ts, NULL);
}

#if defined(__linux__)

/* The mount point of the cgroup v1 hierarchy holding the pids controller. */
static char *find_v1_mount(void) {
  struct mntent ent, *m;
  char buf[4096], *out = NULL;
  FILE *f = setmntent("/proc/self/mounts", "r");

  if (f == NULL)
    return NULL;
  while (out == NULL && (m = getmntent_r(f, &ent, buf, sizeof(buf))) != NULL)
    if (strcmp(m->mnt_type, "cgroup") == 0 && hasmntopt(m, "pids") != NULL)
      out = strdup(m->mnt_dir);
  endmntent(f);
  return out;
}

/*
 * The calling thread's pids cgroup, relative to the hierarchy's root, from
 * lines like "8:pids:/a/b" (controllers are comma-separated).
 */
static int own_cgroup(char *out, size_t len) {
  char line[4096], *ctl, *path, *tok, *save;
  FILE *f = fopen("/proc/thread-self/cgroup", "re");
  int found = -1;

  if (f == NULL)
    return -1;
  while (found != 0 && fgets(line, sizeof(line), f) != NULL) {
    ctl = strchr(line, ':');
    path = ctl != NULL ? strchr(ctl + 1, ':') : NULL;
    if (path == NULL)
      continue;
    *path++ = '\0';
    path[strcspn(path, "\n")] = '\0';
    for (tok = strtok_r(ctl + 1, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
      if (strcmp(tok, "pids") == 0 && strlen(path) < len) {
        strcpy(out, path);
        found = 0;
      }
  }
  fclose(f);
  return found;
}

int nox__local_cgroup_enter(const nox__local_t *l, const char *dir, char *saved,
                            size_t len) {
  char tid[32];

  (void)l;
  if (own_cgroup(saved, len) != 0)
    return ENOTSUP; /* not ENOENT: that means the cgroup went */
  snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
  return write_file(dir, "tasks", tid);
}

void nox__local_cgroup_leave(const nox__local_t *l, const char *saved) {
  char tid[32], path[4096];

  snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
  snprintf(path, sizeof(path), "%s%s", l->cg_mount, saved);
  /* Gone meanwhile: the top is better than staying in the sandbox. */
  if (write_file(path, "tasks", tid) != 0)
    write_file(l->cg_mount, "tasks", tid);
}

/* This process's pid namespace, as its inode number. */
static unsigned long long pid_ns(void) {
  struct stat st;

  return stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long long)st.st_ino
                                             : 0;
}

/*
 * Makes dir/NS-PID-N, a name no other command of any process uses. NS, the
 * pid namespace, tells whose PID it is: containers may share a hierarchy.
 */
static char *make_unique(const char *dir) {
  char name[96], *path;
  uint64_t t = uv_hrtime();
  int i;

  for (i = 0; i < 100; i++) {
    snprintf(name, sizeof(name), "%llx-%ld-%llx", pid_ns(), (long)getpid(),
             (unsigned long long)(t + (uint64_t)i));
    if ((path = join(dir, name)) == NULL)
      return NULL;
    if (mkdir(path, 0755) == 0)
      return path;
    free(path);
    if (errno != EEXIST)
      return NULL;
  }
  errno = EEXIST;
  return NULL;
}

static int drain(const char *dir);

/* Calls fn(dir/NAME, NAME) for each cgroup directory below dir. */
static void each_child(const char *dir,
                       void (*fn)(const char *path, const char *name)) {
  struct dirent *de;
  char *path;
  DIR *d = opendir(dir);

  while (d != NULL && (de = readdir(d)) != NULL) {
    if (de->d_type != DT_DIR || de->d_name[0] == '.')
      continue;
    if ((path = join(dir, de->d_name)) != NULL)
      fn(path, de->d_name);
    free(path);
  }
  if (d != NULL)
    closedir(d);
}

/*
 * A command's cgroup (NS-PID-N) whose process is gone: what it left dies.
 * Only PIDs of our own namespace can be checked.
 */
static void sweep_command(const char *path, const char *name) {
  unsigned long long ns;
  long pid;

  if (sscanf(name, "%llx-%ld-", &ns, &pid) != 2 || ns != pid_ns() || pid <= 0)
    return;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
    drain(path);
}

static void sweep_sandbox(const char *path, const char *name) {
  (void)name;
  each_child(path, sweep_command);
  rmdir(path); /* only if no command of a live process is in it */
}

static void sweep_root(const char *path, const char *name) {
  (void)name;
  each_child(path, sweep_sandbox);
  rmdir(path);
}

/*
 * What processes that ended without closing their clients (crashes) left
 * under noxrunner-UID, for any root: a root may never be used again.
 */
static void sweep(const char *top) {
  each_child(top, sweep_root);
}

int nox__local_cgroup_init(nox__local_t *l) {
  const nox_client_options_t *o = &l->client->opts;
  char id[64] = "";
  struct stat st;
  char name[64], saved[4096], *probe = NULL;
  bool ok = false;

  l->cg_max_pids = o->local_max_pids ? o->local_max_pids : DEFAULT_MAX_PIDS;
  l->cg_mount = find_v1_mount();
  if (l->cg_mount == NULL)
    goto done;
  /*
   * The root's device and inode too: containers may share a hierarchy and
   * have different roots at one path.
   */
  if (stat(l->root, &st) == 0)
    snprintf(id, sizeof(id), "%llx:%llx:", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
  /* Its name: FNV-1a of the root's identity and path. */
  uint64_t h = nox__fnv1a(nox__fnv1a(NOX__FNV1A_INIT, id), l->root);
  snprintf(name, sizeof(name), "noxrunner-%lu", (unsigned long)geteuid());
  l->cg_top = join(l->cg_mount, name);
  snprintf(name, sizeof(name), "%016llx", (unsigned long long)h);
  l->cg_base = l->cg_top != NULL ? join(l->cg_top, name) : NULL;
  if (l->cg_base == NULL) {
    nox__local_cgroup_free(l);
    return NOX_ENOMEM;
  }
  /* Usable means: cgroups can be made, and this thread can move in and out. */
  if (make_dir(l->cg_top) == 0)
    sweep(l->cg_top);
  if (make_dir(l->cg_top) != 0 || make_dir(l->cg_base) != 0 ||
      (probe = make_unique(l->cg_base)) == NULL)
    goto done;
  if (nox__local_cgroup_enter(l, probe, saved, sizeof(saved)) == 0) {
    nox__local_cgroup_leave(l, saved);
    ok = true;
  }
  rmdir(probe);

done:
  free(probe);
  if (!ok)
    nox__local_cgroup_free(l);
  /* An explicit "no isolation" asked for no warnings either. */
  l->warn_no_cgroup =
      !ok && o->isolation != NOX_ISOLATION_NONE && l->cg_max_pids != UINT32_MAX;
  return 0;
}

#else /* !__linux__ */

int nox__local_cgroup_init(nox__local_t *l) {
  l->warn_no_cgroup = l->client->opts.isolation != NOX_ISOLATION_NONE &&
                      l->client->opts.local_max_pids != UINT32_MAX;
  return 0;
}

int nox__local_cgroup_enter(const nox__local_t *l, const char *dir, char *saved,
                            size_t len) {
  (void)l, (void)dir, (void)saved, (void)len;
  return ENOTSUP;
}

void nox__local_cgroup_leave(const nox__local_t *l, const char *saved) {
  (void)l, (void)saved;
}

static char *make_unique(const char *dir) {
  (void)dir;
  errno = ENOTSUP;
  return NULL;
}

#endif

void nox__local_cgroup_free(nox__local_t *l) {
  struct dirent *de;
  char *sb;
  DIR *d;

  /*
   * Sandboxes' directories stay between their commands; they go here (or
   * with their sandbox). Those another process still runs commands in
   * cannot be removed, which is right.
   */
  d = l->cg_base != NULL ? opendir(l->cg_base) : NULL;
  while (d != NULL && (de = readdir(d)) != NULL) {
    if (de->d_type != DT_DIR || de->d_name[0] == '.')
      continue;
    if ((sb = join(l->cg_base, de->d_name)) != NULL)
      rmdir(sb);
    free(sb);
  }
  if (d != NULL)
    closedir(d);
  if (l->cg_base != NULL)
    rmdir(l->cg_base);
  free(l->cg_base);
  free(l->cg_top);
  free(l->cg_mount);
  l->cg_base = l->cg_top = l->cg_mount = NULL;
}

int nox__local_cgroup_prepare(const nox__local_t *l, const char *sandbox,
                              char **dir, char *msg, size_t len) {
  char max[32], *sb = join(l->cg_base, sandbox);
  int attempt, err = 0;

  *dir = NULL;
  if (sb == NULL)
    return NOX_ENOMEM;
  if (l->cg_max_pids == UINT32_MAX)
    strcpy(max, "max");
  else
    snprintf(max, sizeof(max), "%lu", (unsigned long)l->cg_max_pids);
  /*
   * A delete, or a client of the root closing (in any process), removes
   * the sandbox's directory: made again if that raced us (ENOENT once it is
   * gone, ENODEV while it is being removed).
   */
  for (attempt = 0; attempt < 10 && *dir == NULL; attempt++) {
    err = make_dir(l->cg_top) == 0 ? 0 : errno;
    if (err == 0 && make_dir(l->cg_base) != 0)
      err = errno;
    if (err == 0 && make_dir(sb) != 0)
      err = errno;
    if (err == 0)
      err = write_file(sb, "pids.max", max);
    if (err == 0 && (*dir = make_unique(sb)) == NULL)
      err = errno;
    if (err != 0 && err != ENOENT && err != ENODEV)
      break;
  }
  free(sb);
  if (*dir != NULL)
    return 0;
  if (err == ENOMEM)
    return NOX_ENOMEM;
  snprintf(msg, len, "cannot make a cgroup for the command: %s", strerror(err));
  return NOX_EIO;
}

int nox__local_cgroup_kill(const char *dir) {
  char path[4096];
  FILE *f;
  long pid;
  int n = 0;

  /* No fork can succeed from here on, so every round can only shrink it. */
  write_file(dir, "pids.max", "0");
  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  f = fopen(path, "re");
  if (f == NULL)
    return 0;
  while (fscanf(f, "%ld", &pid) == 1) {
    if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
      n++;
  }
  fclose(f);
  return n;
}

/* Kills what dir holds until it can be removed; bounded. */
static int drain(const char *dir) {
  int i;

  for (i = 0; i < DRAIN_ROUNDS; i++) {
    nox__local_cgroup_kill(dir);
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    pause_briefly();
  }
  return -1;
}

void nox__local_cgroup_remove(const char *dir) {
  drain(dir);
}

static void release_run(nox__local_job_t *job) {
  nox__local_cgroup_remove(job->path);
}

static void release_done(nox__local_job_t *job) {
  (void)job;
}

void nox__local_cgroup_release(nox__local_t *l, char *dir) {
  nox__local_job_t *job = nox__local_job_new(l, NULL);

  if (job == NULL) {
    /* Its processes are killed at least; an empty directory may stay. */
    nox__local_cgroup_kill(dir);
    nox__local_cgroup_discard(dir);
    free(dir);
    return;
  }
  job->background = true;
  job->path = dir;
  job->run = release_run;
  job->done = release_done;
  nox__local_job_queue(job);
}

void nox__local_cgroup_discard(const char *dir) {
  rmdir(dir);
}

void nox__local_cgroup_drop(const nox__local_t *l, const char *sandbox) {
  char *sb, *child;
  struct dirent *de;
  DIR *d;
  int i;

  if (l->cg_base == NULL || (sb = join(l->cg_base, sandbox)) == NULL)
    return;
  /* pids.max is hierarchical: nothing of the sandbox forks any more. */
  if (write_file(sb, "pids.max", "0") != 0) {
    free(sb);
    return;
  }
  for (i = 0; i < DRAIN_ROUNDS; i++) {
    d = opendir(sb);
    if (d == NULL)
      break;
    while ((de = readdir(d)) != NULL) {
      if (de->d_type != DT_DIR || de->d_name[0] == '.')
        continue;
      if ((child = join(sb, de->d_name)) == NULL)
        continue;
      nox__local_cgroup_kill(child);
      rmdir(child);
      free(child);
    }
    closedir(d);
    if (rmdir(sb) == 0 || errno == ENOENT)
      break;
    pause_briefly();
  }
  free(sb);
}
