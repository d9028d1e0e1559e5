/*
 * The local backend: sandboxes are directories under a root, commands run
 * with uv_spawn (inside bubblewrap when it is usable).
 *
 * Layout of the root (shared by every process using it):
 *   .lock                  flock()ed around changes to the set of sandboxes
 *   sb-NAME/meta.json      ttl, expiry, limits, creation time, the full id
 *   sb-NAME/workspace/     what commands see as /workspace
 *   .trash-*               sandboxes being removed
 *
 * Each command also runs in a pids cgroup of its own below its sandbox's
 * (cgroup.c), where the host allows one: the sandbox's process cap, and a
 * handle on every process a command started.
 *
 * Threads: everything touching the disk beyond one small file runs in a
 * job on libuv's work queue; the loop thread only spawns, reads pipes and
 * completes requests. A job never reads its request: it works on copies,
 * and finds out in its loop-side callback whether the request still wants
 * the result.
 */
#ifndef NOX_LOCAL_H
#define NOX_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "tar/stream.h"

#define NOX__LOCAL_WORKSPACE "/workspace"
#define NOX__LOCAL_MSG 256
#define NOX__LOCAL_MAX_PARAM 4096 /* longest image name kept */

typedef struct nox__local nox__local_t;

struct nox__local {
  nox_client_t *client;
  char *root;   /* real path of the root directory */
  char **bwrap; /* bwrap's argv prefix when usable, else NULL */
  bool warn_unisolated;
  uv_timer_t reap_timer;
  bool reap_running;
  nox__list_t execs; /* running commands (nox__local_exec_t.node) */
  nox__list_t busy;   /* session jobs queued to the threadpool (job.snode) */
  nox__list_t parked; /* session jobs waiting for one on the same id */
  unsigned pending;  /* jobs, exec states and handles still to finish */
  bool closing;
  nox__pool_t *tar_pool; /* transfers' workers, made with the first one */
  /* pids cgroups (cgroup.c); cg_base is NULL when they are not usable. */
  char *cg_mount; /* the pids hierarchy's mount point */
  char *cg_top;   /* cg_mount/noxrunner-UID */
  char *cg_base;  /* cg_top/ROOTHASH: this root's sandboxes */
  uint32_t cg_max_pids;
  bool warn_no_cgroup;
};

/* What req->backend_data points at: both kinds start with this tag. */
typedef enum {
  NOX__LOCAL_JOB,
  NOX__LOCAL_EXEC,
  NOX__LOCAL_XFER
} nox__local_kind_t;
typedef struct nox__local_xfer nox__local_xfer_t;

/* A sandbox's metadata file. */
typedef struct {
  char *id;           /* the full session id */
  int64_t created_at; /* seconds since the epoch */
  int64_t expires_at;
  uint32_t ttl_seconds;
  char *image;         /* as given at creation (unused locally) */
  char *cpu_limit;     /* as given: "500m", "2" */
  char *memory_limit;  /* as given: "512Mi" */
  char *storage_limit; /* as given (not enforced) */
} nox__local_meta_t;

/* Limits applied to each command of a sandbox (0: none). */
typedef struct {
  uint64_t memory_bytes;
  uint64_t cpu_millis;
} nox__local_limits_t;

typedef struct nox__local_job nox__local_job_t;

struct nox__local_job {
  nox__local_kind_t kind;
  uv_work_t work;
  nox__local_t *local;
  nox_req_t *req;  /* NULL once the request no longer wants the result */
  nox__list_t snode; /* local.busy or local.parked, for jobs with an id */
  bool background; /* the backend's own (reaper): done runs without req */
  nox__op_t op;
  void (*run)(nox__local_job_t *job);  /* worker thread */
  void (*done)(nox__local_job_t *job); /* loop thread, req still attached */

  /* Inputs, copied from the request. */
  char *session_id;
  char *path;               /* workdir, upload dest or download src */
  nox__local_meta_t params; /* create: ttl and limits */
  nox__buf_t body;          /* upload: the archive, moved from req->body */

  /* Outputs. */
  int status;
  char msg[NOX__LOCAL_MSG];
  nox__local_meta_t meta;
  char *sandbox;      /* the sandbox's directory name */
  char *workspace;    /* host path of its workspace */
  char *hostdir;      /* exec: host path of the workdir */
  char *innerdir;     /* exec: the workdir as the command sees it */
  char *cgroup;       /* exec: the command's cgroup, NULL without one */
  nox__buf_t data;    /* download: the archive */
  char **reaped;      /* reaper: directory names removed */
  uint64_t reaped_ns; /* reaper: uv_hrtime() when they were removed */
};

/* xfer.c: streaming transfers once the job resolved the paths */
void nox__local_xfer_start(nox__local_job_t *job);
int nox__local_xfer_resume(nox_req_t *req);
void nox__local_xfer_abort(nox__local_xfer_t *x);
void nox__local_xfer_free(nox__local_xfer_t *x);

/* local.c */
nox__local_job_t *nox__local_job_new(nox__local_t *l, nox_req_t *req);
/* Queues the job on the work queue; completes the request on failure. */
void nox__local_job_queue(nox__local_job_t *job);
void nox__local_job_free(nox__local_job_t *job);
/* Finishes a request: detaches the backend state and completes it. */
void nox__local_finish(nox_req_t *req, int status);
/* Frees l and tells the core once closing and nothing is pending. */
void nox__local_maybe_closed(nox__local_t *l);

/* session.c (worker threads) */
char *nox__local_dirname(const char *id);
void nox__local_meta_free(nox__local_meta_t *m);
int nox__local_parse_limits(const nox__local_meta_t *m,
                            nox__local_limits_t *out, char *msg, size_t len);

typedef enum {
  NOX__SESS_GET,    /* must exist */
  NOX__SESS_ENSURE, /* made with default settings if missing (exec, with
                       local_auto_create) */
  NOX__SESS_CREATE, /* made, or its ttl and limits updated */
  NOX__SESS_TOUCH   /* must exist; expiry moves to now + ttl */
} nox__sess_mode_t;

/* Opens the job's session as mode says; fills job->meta, sandbox, workspace. */
int nox__local_session_open(nox__local_job_t *job, nox__sess_mode_t mode);
int nox__local_session_delete(nox__local_job_t *job);
/* Removes expired sandboxes and leftovers; fills job->reaped. */
void nox__local_session_reap(nox__local_job_t *job);

/* paths.c (worker threads) */
typedef enum {
  NOX__PATH_MKDIR = 1, /* create missing directories (workdir, dest) */
  NOX__PATH_EXISTS = 2 /* must exist, any type (download src) */
} nox__path_flags_t;

/*
 * Maps path ("/workspace" or below) to a real host path inside workspace
 * and, in *inner, to the path the command sees. Refuses (NOX_EINVAL, with a
 * message) anything else or anything resolving outside; NOX_ENOTFOUND when
 * NOX__PATH_EXISTS and it is missing.
 */
int nox__local_map_path(const char *workspace, const char *path, int flags,
                        char **host, char **inner, char *msg, size_t len);
/* Removes a tree without following symlinks. Returns 0 or NOX_EIO. */
int nox__local_rmtree(const char *path);

/* isolation.c */
/* Finds and probes bwrap per opts.isolation; sets l->bwrap. */
int nox__local_isolation_init(nox__local_t *l);
void nox__local_isolation_free(nox__local_t *l);
/*
 * The argv to spawn for cmd in the job's sandbox, and the directory to
 * spawn it in: bwrap around it when isolated, a /bin/sh wrapper when limits
 * need rlimits (its script is written to script). *argv is one malloc()ed
 * array of borrowed strings, valid while job, cmd and script are.
 */
int nox__local_command(const nox__local_t *l, const nox__local_job_t *job,
                       char *const *cmd, uint32_t timeout_seconds, char *script,
                       size_t scriptlen, const char ***argv, const char **cwd);

/* cgroup.c */
/* Finds a usable pids hierarchy; without one, sets cg_base NULL. */
int nox__local_cgroup_init(nox__local_t *l);
void nox__local_cgroup_free(nox__local_t *l);
/* Worker: makes the sandbox's cgroup and a new one for a command in it. */
int nox__local_cgroup_prepare(const nox__local_t *l, const char *sandbox,
                              char **dir, char *msg, size_t len);
/*
 * Loop thread, around uv_spawn(): moves the calling thread into dir (its
 * own cgroup is kept in saved), and back. enter returns 0 or an errno.
 */
int nox__local_cgroup_enter(const nox__local_t *l, const char *dir,
                            char *saved, size_t len);
void nox__local_cgroup_leave(const nox__local_t *l, const char *saved);
/* Stops forks in dir and SIGKILLs what it holds; returns how many. */
int nox__local_cgroup_kill(const char *dir);
/* Worker: kills until dir can be removed (bounded). */
void nox__local_cgroup_remove(const char *dir);
/* Loop: a worker kills and removes a finished command's cgroup (takes dir). */
void nox__local_cgroup_release(nox__local_t *l, char *dir);
/* Removes a command's cgroup that never held a process. */
void nox__local_cgroup_discard(const char *dir);
/* Worker, under the root's lock: kills and removes a sandbox's cgroups. */
void nox__local_cgroup_drop(const nox__local_t *l, const char *sandbox);

/* exec.c */
void nox__local_exec_start(nox__local_job_t *job);
void nox__local_exec_abort(void *exec);
/*
 * Kills the commands of one sandbox spawned before uv_hrtime() was
 * before_ns (delete, reaper): a sandbox made again under the same name
 * afterwards keeps its own.
 */
void nox__local_exec_kill_sandbox(nox__local_t *l, const char *sandbox,
                                  uint64_t before_ns);

/* reaper.c */
int nox__local_reaper_init(nox__local_t *l);
void nox__local_reaper_close(nox__local_t *l);

/* ops.c */
void nox__local_start_op(nox__local_t *l, nox_req_t *req);

#endif /* NOX_LOCAL_H */
