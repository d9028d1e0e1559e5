/**
 * @file noxrunner/sandbox.h
 * @brief Many sandboxes from one loop: sandbox handles and leases, admission
 * control, the registry and its journal, and fan-out.
 *
 * libnoxrunner — managing many sandboxes from one loop.
 *
 * Built on the client of noxrunner.h (included here) and bound by the same
 * rules: one loop thread; every callback runs from the loop, never inside
 * the call that started it; an error return means the callback never runs.
 *
 *  - A sandbox handle (nox_sandbox_t) names one sandbox of one client. It
 *    creates it (and optionally waits until it runs commands), offers the
 *    client's operations without repeating the id, and can hold a lease:
 *    a timer that touches the sandbox well before it expires, for as long as
 *    the handle is held. nox_sandbox_release() ends the handle and deletes
 *    the sandbox (or keeps it, by option).
 *
 *  - Every handle not yet released is in the client's registry.
 *    nox_sandbox_release_all() releases them all with bounded concurrency
 *    and retries; nox_client_close() does the same before it closes: it
 *    refuses new operations at once, lets requests already running go on,
 *    deletes the sandboxes, and only then completes what is left with
 *    NOX_ECLOSING and closes. An
 *    optional journal file records every sandbox created and deleted, so
 *    that nox_journal_reap() in a restarted process deletes what a crashed
 *    one left behind.
 *
 *  - Admission control caps creates, execs and transfers in flight (the
 *    max_creating, max_execs, max_transfers_inflight and queue_deadline_ms
 *    fields of nox_client_options_t); nox_client_stats() reads the counts.
 *
 *  - nox_fanout() runs a batch of jobs across a set of sandbox handles.
 */
#ifndef NOXRUNNER_SANDBOX_H
#define NOXRUNNER_SANDBOX_H

#include "../noxrunner.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Admission control and counters                                           */
/* ------------------------------------------------------------------------ */

/** A snapshot of a client's load. */
typedef struct nox_client_stats {
  size_t creating;         /**< creates handed to the backend, not completed */
  size_t creating_queued;  /**< creates waiting for a slot (max_creating) */
  size_t execs;            /**< execs in flight (wait-ready probes included) */
  size_t execs_queued;     /**< execs waiting for a slot (max_execs) */
  size_t transfers;        /**< uploads and downloads in flight */
  size_t transfers_queued; /**< transfers waiting (max_transfers_inflight) */
  /** Requests ended with NOX_ETIMEDOUT by queue_deadline_ms, ever. */
  uint64_t queue_timeouts;
  size_t pending;   /**< every live request (as nox_client_pending()) */
  size_t sandboxes; /**< sandbox handles in the registry */
} nox_client_stats_t;

/**
 * Fills *out with the client's current counts. Cheap; call it any time on
 * the loop thread, from callbacks too. Returns 0 or NOX_EINVAL.
 */
NOX_EXTERN int nox_client_stats(const nox_client_t *client,
                                nox_client_stats_t *out);

/* ------------------------------------------------------------------------ */
/* Sandbox handles and leases                                               */
/* ------------------------------------------------------------------------ */

/**
 * A sandbox handle: one sandbox of one client, made by nox_sandbox_new().
 * Opaque; owned by the caller until its release ends (the release
 * callback's return, nox_sandbox_release_all()'s end, or the client's close).
 */
typedef struct nox_sandbox_s nox_sandbox_t;

/**
 * The handle's outcome of creation: status 0 when the sandbox exists (and,
 * with wait_ready, answered a command), else the error of the create or of
 * the readiness wait (NOX_ETIMEDOUT at its deadline), or NOX_ECANCELED when
 * the handle was released first, or NOX_ECLOSING. The handle stays valid
 * either way: release it.
 */
typedef void (*nox_sandbox_cb)(nox_sandbox_t *sb, int status);

/**
 * The leased sandbox is gone: a touch or an exec answered 404
 * (NOX_ENOTFOUND), or touches kept failing for longer than the TTL
 * (NOX_ETIMEDOUT, the last touch error is lost). Runs at most once per
 * handle; the lease has stopped. Release the handle (no delete is sent for
 * a lost sandbox) and make a new one to replace it.
 */
typedef void (*nox_sandbox_lost_cb)(nox_sandbox_t *sb, int status);

/** The version of ::nox_sandbox_options_t these headers describe. */
#define NOX_SANDBOX_OPTIONS_VERSION 1

/** Options of nox_sandbox_new(). A zero field means the default. */
typedef struct nox_sandbox_options {
  unsigned version; /**< NOX_SANDBOX_OPTIONS_VERSION */
  /** Create options (TTL, image, limits); NULL for the defaults. Copied. */
  const nox_create_options_t *create;
  /**
   * Non-zero: after the create, run `echo ready` until it succeeds; answers
   * that mean "not yet" (503, other 5xx, connection errors, timeouts) are
   * retried with doubling, jittered pauses until ready_timeout_ms.
   */
  int wait_ready;
  uint32_t ready_timeout_ms; /**< default 30000 */
  uint32_t ready_backoff_ms; /**< first pause, default 100; capped at 2000 */
  /**
   * Non-zero: hold a lease. Once created, the sandbox is touched every
   * touch_interval_ms (jittered down by up to 20%); a failed touch is
   * retried with backoff. Stops at release or when the sandbox is lost.
   */
  int lease;
  /** Default: a third of the TTL. Must be below the TTL. */
  uint32_t touch_interval_ms;
  /** Non-zero: nox_sandbox_release() keeps the sandbox (its TTL reaps it). */
  int keep_on_release;
  /** Loss of the sandbox (see nox_sandbox_lost_cb); NULL to only poll. */
  nox_sandbox_lost_cb on_lost;
} nox_sandbox_options_t;

/** Initialiser of ::nox_sandbox_options_t: every field at its default. */
#define NOX_SANDBOX_OPTIONS_INIT                                               \
  { NOX_SANDBOX_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, 0, NULL }

/**
 * Makes a handle for session_id on client, adds it to the registry (and
 * journal) and starts creating the sandbox; cb (required) runs once with
 * the outcome. data is stored on the handle (nox_sandbox_data()).
 *
 * *out is the handle, owned by the caller until nox_sandbox_release(),
 * nox_sandbox_release_all() or the client's close ends it. Returns 0,
 * NOX_EINVAL, NOX_ENOMEM, NOX_ECLOSING or NOX_EIO (the journal could not be
 * written). The create counts against max_creating.
 */
NOX_EXTERN int nox_sandbox_new(nox_sandbox_t **out, nox_client_t *client,
                               const char *session_id,
                               const nox_sandbox_options_t *opts,
                               nox_sandbox_cb cb, void *data);

/**
 * The session id given to nox_sandbox_new() (copied there); borrowed, valid
 * as long as the handle. NULL when sb is NULL.
 */
NOX_EXTERN const char *nox_sandbox_id(const nox_sandbox_t *sb);

/** The user pointer given to nox_sandbox_new() (NULL when sb is NULL). */
NOX_EXTERN void *nox_sandbox_data(const nox_sandbox_t *sb);

/** The client the handle belongs to (NULL when sb is NULL). */
NOX_EXTERN nox_client_t *nox_sandbox_client(const nox_sandbox_t *sb);

/**
 * When the sandbox expires, in seconds since the epoch: the backend's
 * expiresAt from the create, moved to now + TTL by every successful touch
 * (the lease's or nox_sandbox_touch()). -1 while unknown.
 */
NOX_EXTERN int64_t nox_sandbox_expires_at(const nox_sandbox_t *sb);

/**
 * 1 once the creation succeeded (and the sandbox answered a command, with
 * wait_ready): from the moment the ::nox_sandbox_cb is called with status
 * 0 (inside it too); else 0.
 */
NOX_EXTERN int nox_sandbox_ready(const nox_sandbox_t *sb);

/** 1 once the sandbox was found lost (see ::nox_sandbox_lost_cb); else 0. */
NOX_EXTERN int nox_sandbox_lost(const nox_sandbox_t *sb);

/*
 * The client's operations on the handle's sandbox: same arguments, results,
 * errors and request lifetime as nox_exec(), nox_exec_shell(),
 * nox_upload(), nox_download() and nox_touch() (so data is the request's
 * pointer, read with nox_req_data()). An exec answered by 404 marks the
 * sandbox lost (and calls on_lost); a touch that succeeds moves
 * expiresAt. The handle must be live when they are called; requests
 * already started may outlive a release.
 */

/**
 * nox_exec() on the handle's sandbox: argv, opts, cb and data, the result,
 * the errors (NOX_EINVAL also for a NULL sb) and the request's lifetime are
 * those of nox_exec(); *out (out may be NULL) is the request, valid until
 * cb returns. An exec answered by 404 (NOX_ENOTFOUND) marks the sandbox
 * lost and calls on_lost, before cb runs. Counts against max_execs. The
 * handle must be live (not yet released) when this is called; the request
 * may outlive its release.
 */
NOX_EXTERN int nox_sandbox_exec(nox_req_t **out, nox_sandbox_t *sb,
                                const char *const argv[],
                                const nox_exec_options_t *opts, nox_exec_cb cb,
                                void *data);

/**
 * nox_exec_shell() on the handle's sandbox (`shell -c script`; shell NULL
 * means `sh`): arguments, result, errors (NOX_EBADSHELL included) and
 * request lifetime as nox_exec_shell(), and a 404 marks the sandbox lost as
 * with nox_sandbox_exec(). out may be NULL.
 */
NOX_EXTERN int nox_sandbox_exec_shell(nox_req_t **out, nox_sandbox_t *sb,
                                      const char *shell, const char *script,
                                      const nox_exec_options_t *opts,
                                      nox_exec_cb cb, void *data);

/**
 * nox_upload() on the handle's sandbox: opts (its files or archive, read
 * as nox_upload() says), cb, data, the errors (NOX_EINVAL also for a NULL
 * sb) and the request's lifetime are those of nox_upload(). out may be
 * NULL. Counts against max_transfers_inflight. The handle must be live.
 */
NOX_EXTERN int nox_sandbox_upload(nox_req_t **out, nox_sandbox_t *sb,
                                  const nox_upload_options_t *opts,
                                  nox_req_cb cb, void *data);

/**
 * nox_download() on the handle's sandbox: the archive's bytes go to
 * on_data (borrowed for each call) as they arrive, then cb runs once;
 * arguments, errors and request lifetime as nox_download(). out may be
 * NULL. Counts against max_transfers_inflight. The handle must be live.
 */
NOX_EXTERN int nox_sandbox_download(nox_req_t **out, nox_sandbox_t *sb,
                                    const nox_download_options_t *opts,
                                    nox_data_cb on_data, nox_req_cb cb,
                                    void *data);

/**
 * nox_touch() on the handle's sandbox: resets its TTL. On success the
 * handle's nox_sandbox_expires_at() moves to now + TTL; a 404 marks the
 * sandbox lost (on_lost runs before cb). Arguments, errors and request
 * lifetime as nox_touch(); out may be NULL. A lease touches by itself: this
 * is for handles without one, or to touch at once.
 */
NOX_EXTERN int nox_sandbox_touch(nox_req_t **out, nox_sandbox_t *sb,
                                 nox_req_cb cb, void *data);

/**
 * The end of a release: status is 0 (deleted, 404 included, or kept, lost,
 * never created) or the last delete error. sb is valid until this returns,
 * and not after; data is the pointer given to nox_sandbox_release().
 */
typedef void (*nox_sandbox_release_cb)(nox_sandbox_t *sb, int status,
                                       void *data);

/**
 * Ends the handle: stops its lease, cancels its own create, probe or touch
 * in flight, then deletes the sandbox (retried, with backoff, up to the
 * registry's delete_attempts; 404 counts as deleted) unless it was lost,
 * never created, or keep_on_release was set. Then cb(sb, status, data) runs
 * once (cb may be NULL); status is 0 or the last delete error. The handle
 * is valid until cb returns, and not after. Returns 0, NOX_EINVAL, or
 * NOX_EALREADY when the handle is already being released (by an earlier
 * call, nox_sandbox_release_all() or the client's close). cb never runs
 * inside this call; a creation callback that had not run yet runs first,
 * with NOX_ECANCELED.
 */
NOX_EXTERN int nox_sandbox_release(nox_sandbox_t *sb, nox_sandbox_release_cb cb,
                                   void *data);

/* ------------------------------------------------------------------------ */
/* Registry and journal                                                     */
/* ------------------------------------------------------------------------ */

/** Outcome of releasing (or reaping) many sandboxes. Borrowed. */
typedef struct nox_release_report {
  size_t released; /**< deleted, or kept by keep_on_release, or lost */
  size_t failed;   /**< could not be deleted after every attempt */
  /** The ids that failed, failed of them; valid for the callback. */
  const char *const *failed_ids;
  /** The last error of each failed id. */
  const int *failed_status;
} nox_release_report_t;

/**
 * The end of nox_sandbox_release_all(), nox_journal_reap() or (as the
 * registry's on_close) the deletes of nox_client_close(). The report and
 * its arrays are borrowed until this returns; data is the caller's pointer.
 */
typedef void (*nox_release_all_cb)(nox_client_t *client,
                                   const nox_release_report_t *report,
                                   void *data);

/** The version of ::nox_registry_options_t these headers describe. */
#define NOX_REGISTRY_OPTIONS_VERSION 1

/** Options of the client's registry. A zero field means the default. */
typedef struct nox_registry_options {
  unsigned version; /**< NOX_REGISTRY_OPTIONS_VERSION */
  /**
   * Append-only journal of the sandboxes this client creates and deletes
   * (one "C id" or "D id" line each, ids percent-encoded), or NULL. Opened
   * (created if missing) by nox_registry_configure(). Copied.
   */
  const char *journal_path;
  /** Non-zero: fsync(2) after every journal line (blocks the loop). */
  int journal_fsync;
  /** Most deletes at once in release-all, close and reap (default 16). */
  uint32_t max_deletes;
  /** Attempts per delete before it counts as failed (default 3). */
  uint32_t delete_attempts;
  /** Pause before the second attempt in ms, doubling (default 200). */
  uint32_t delete_backoff_ms;
  /**
   * Receives the report of the deletes made by nox_client_close(), before
   * the close callback; NULL to ignore it.
   */
  nox_release_all_cb on_close;
  void *on_close_data; /**< handed to on_close */
} nox_registry_options_t;

/** Initialiser of ::nox_registry_options_t: every field at its default. */
#define NOX_REGISTRY_OPTIONS_INIT                                              \
  { NOX_REGISTRY_OPTIONS_VERSION, NULL, 0, 0, 0, 0, NULL, NULL }

/**
 * Sets the registry's options (opts is required and copied, journal_path
 * included); call it before the first nox_sandbox_new() (returns
 * NOX_EALREADY after). The journal file stays open until the client is
 * freed. Returns 0, NOX_EINVAL (NULL argument, wrong version), NOX_ENOMEM,
 * NOX_EALREADY or NOX_EIO (the journal could not be opened). Never calls
 * back.
 */
NOX_EXTERN int nox_registry_configure(nox_client_t *client,
                                      const nox_registry_options_t *opts);

/**
 * Releases every handle of the registry that is not already being released
 * (as nox_sandbox_release() without a callback; at most max_deletes at
 * once), then cb(client, report, data) runs once (cb may be NULL). A
 * creation callback that had not run yet runs first, with NOX_ECANCELED;
 * each such handle is invalid once its release ended, at the latest when
 * cb runs. nox_client_close() does the same by itself (reporting to the
 * registry's on_close), so calling this before a close is only needed to
 * see the report somewhere else or to keep using the client. Returns 0,
 * NOX_EINVAL, NOX_ENOMEM or NOX_ECLOSING.
 */
NOX_EXTERN int nox_sandbox_release_all(nox_client_t *client,
                                       nox_release_all_cb cb, void *data);

/**
 * Reads the journal at path, written by a process that may have crashed,
 * and deletes every sandbox it created and did not delete (404 counts as
 * deleted), at most max_deletes at once, with retries. Then the journal is
 * removed, or rewritten to hold only the ids that failed, and cb runs once.
 * A line the library cannot have written (garbage, longer than a record,
 * an id over 1024 bytes) is skipped. Call it before configuring the same
 * path as this client's journal (NOX_EINVAL if it is). Returns 0,
 * NOX_EINVAL, NOX_ENOMEM, NOX_ECLOSING, or NOX_EIO (unreadable journal; a
 * missing one reaps nothing). path is copied; cb is required and runs from
 * the loop, never inside this call.
 */
NOX_EXTERN int nox_journal_reap(nox_client_t *client, const char *path,
                                nox_release_all_cb cb, void *data);

/* ------------------------------------------------------------------------ */
/* Fan-out                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * A batch of jobs started by nox_fanout(). Opaque and owned by the library;
 * valid until its on_done callback returns.
 */
typedef struct nox_fanout_s nox_fanout_t;

/** One job: an optional upload, a command, an optional download. */
typedef struct nox_job {
  /** The command as argv (NULL-terminated); or NULL and script. */
  const char *const *argv;
  /** The command as a script for `sh -c`, when argv is NULL. */
  const char *script;
  const nox_exec_options_t *exec_opts; /**< may be NULL */
  /** Files uploaded to upload_dest first, if nfiles is not 0. */
  const nox_file_t *files;
  size_t nfiles;           /**< how many files */
  const char *upload_dest; /**< NULL means /workspace */
  /** Downloaded after the command (raw archive bytes), if not NULL. */
  const char *download_src;
  void *data; /**< the caller's, handed back in the result */
} nox_job_t;

/** Which step of a job failed. */
typedef enum {
  NOX_JOB_STEP_NONE = 0,
  NOX_JOB_STEP_UPLOAD = 1,
  NOX_JOB_STEP_EXEC = 2,
  NOX_JOB_STEP_DOWNLOAD = 3
} nox_job_step_t;

/** The outcome of one job. Borrowed for the callback. */
typedef struct nox_job_result {
  size_t index;           /**< into the jobs array */
  const nox_job_t *job;   /**< &jobs[index] */
  nox_sandbox_t *sandbox; /**< where it ran; NULL if it never started */
  /**
   * 0, or the error of the failing step, or NOX_ECANCELED (the batch was
   * canceled or failed fast before or while it ran). A command that exits
   * non-zero is a failure with status 0 and exec->exit_code set.
   */
  int status;
  int failed_step;               /**< nox_job_step_t */
  int ok;                        /**< 1: every step succeeded, exit code 0 */
  const nox_exec_result_t *exec; /**< NULL unless the command completed */
  const char *download;          /**< the downloaded bytes, or NULL */
  size_t download_len;           /**< their length */
  uint64_t latency_ms;           /**< from its first step's start to its end */
  const char *message;           /**< the failing request's detail, or "" */
} nox_job_result_t;

/** The outcome of a batch. Borrowed for the callback. */
typedef struct nox_fanout_report {
  size_t jobs;         /**< jobs in the batch */
  size_t ok;           /**< jobs whose every step succeeded */
  size_t failed;       /**< jobs that failed (non-zero exit included) */
  size_t canceled;     /**< jobs canceled, run or not */
  int first_status;    /**< status of the first failed job, or 0 */
  size_t first_failed; /**< its index, or jobs if none failed */
  uint64_t elapsed_ms; /**< from nox_fanout() to the report */
} nox_fanout_report_t;

/**
 * One job ended: r (and what it points to) is borrowed until this returns;
 * data is nox_fanout()'s. Runs once per job, in completion order.
 */
typedef void (*nox_job_cb)(nox_fanout_t *f, const nox_job_result_t *r,
                           void *data);
/**
 * The batch ended, after the last ::nox_job_cb: r is borrowed until this
 * returns, and f is valid until then too; data is nox_fanout()'s.
 */
typedef void (*nox_fanout_cb)(nox_fanout_t *f, const nox_fanout_report_t *r,
                              void *data);

/** The version of ::nox_fanout_options_t these headers describe. */
#define NOX_FANOUT_OPTIONS_VERSION 1

/** Options of nox_fanout(). */
typedef struct nox_fanout_options {
  unsigned version; /**< NOX_FANOUT_OPTIONS_VERSION */
  /** Most jobs running at once (default: the number of sandboxes). */
  uint32_t max_concurrent;
  /** Non-zero: the first failed job cancels the rest. Else all run. */
  int fail_fast;
  /** Largest download kept per job (default 16 MiB; more fails NOX_ETOOBIG). */
  size_t max_download_bytes;
} nox_fanout_options_t;

/** Initialiser of ::nox_fanout_options_t: every field at its default. */
#define NOX_FANOUT_OPTIONS_INIT                                                \
  { NOX_FANOUT_OPTIONS_VERSION, 0, 0, 0 }

/**
 * Runs jobs[0..njobs) across sandboxes[0..nsandboxes), one job per sandbox
 * at a time, at most max_concurrent at once, in order. A sandbox found lost
 * gets no more jobs; with none left, the remaining jobs fail with
 * NOX_ENOTFOUND. on_job (may be NULL) runs once per job as it ends, in
 * completion order; then on_done (required) runs once. Both get data.
 *
 * The jobs array, what it points to, and the handles are borrowed: they
 * must stay valid until on_done returns. *out (may be NULL) is valid until
 * on_done returns. opts may be NULL for the defaults. Every sandbox must
 * belong to the same client. Neither callback runs inside this call.
 * Returns 0, NOX_EINVAL (a NULL or foreign handle, no jobs, a job with both
 * or neither of argv and script, no on_done, wrong version), NOX_ENOMEM or
 * NOX_ECLOSING.
 */
NOX_EXTERN int nox_fanout(nox_fanout_t **out, nox_sandbox_t *const *sandboxes,
                          size_t nsandboxes, const nox_job_t *jobs,
                          size_t njobs, const nox_fanout_options_t *opts,
                          nox_job_cb on_job, nox_fanout_cb on_done, void *data);

/**
 * Cancels a batch: running jobs are canceled, the rest never start; each
 * still reports once, with NOX_ECANCELED, from the loop (never inside this
 * call), then on_done runs. Call it before on_done has returned. Returns 0,
 * NOX_EINVAL (f is NULL) or NOX_EALREADY (already canceled, stopping after a
 * fail-fast failure, or done).
 */
NOX_EXTERN int nox_fanout_cancel(nox_fanout_t *f);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_SANDBOX_H */
