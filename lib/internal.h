/*
 * Internals shared by the client core and the backends. Nothing here is
 * exported; every name is nox__-prefixed.
 */
#ifndef NOX_INTERNAL_H
#define NOX_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "noxrunner.h"
#include "noxrunner/util.h"
#include "buf.h"
#include "list.h"

/* Defaults of nox_client_options_t. */
#define NOX__DEFAULT_BASE_URL "http://127.0.0.1:8080"
#define NOX__DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define NOX__DEFAULT_REQUEST_TIMEOUT_MS 30000u
#define NOX__DEFAULT_EXEC_GRACE_MS 30000u
#define NOX__DEFAULT_MAX_CONNECTIONS 64u
#define NOX__DEFAULT_MAX_BODY_BYTES ((size_t)64 << 20)
#define NOX__DEFAULT_MAX_RETRIES 3u
#define NOX__DEFAULT_RETRY_BASE_MS 200u
#define NOX__DEFAULT_RETRY_MAX_MS 10000u
#define NOX__DEFAULT_MAX_OUTPUT_BYTES ((size_t)1 << 20)
#define NOX__DEFAULT_REAP_INTERVAL_MS 10000u
#define NOX__DEFAULT_TAR_WORKERS 2u
#define NOX__DEFAULT_STREAM_BUFFER_BYTES ((size_t)1 << 20)
#define NOX__DEFAULT_TTL_SECONDS 900u
#define NOX__DEFAULT_EXEC_TIMEOUT_S 30u
#define NOX__DEFAULT_WORKDIR "/workspace"
#define NOX__MAX_SESSION_ID 1024u

typedef enum {
  NOX__OP_HEALTH,
  NOX__OP_CREATE,
  NOX__OP_TOUCH,
  NOX__OP_DELETE,
  NOX__OP_EXEC,
  NOX__OP_UPLOAD,
  NOX__OP_DOWNLOAD,
  NOX__OP_WAIT
} nox__op_t;

typedef enum {
  NOX__REQ_NEW,     /* on client->start_q, the backend has not seen it */
  NOX__REQ_RUNNING, /* owned by the backend (or the wait-ready poller) */
  NOX__REQ_DONE     /* outcome decided, on client->done_q */
} nox__req_state_t;

/*
 * One operation. The core owns the lifecycle; a backend keeps its own state
 * in backend_data and fills the result fields before completing.
 */
struct nox_req_s {
  nox_client_t *client;
  nox__list_t node;    /* client->reqs: every live request */
  nox__list_t qnode;   /* client->start_q or client->done_q */
  nox__list_t cnode;   /* client->cancel_q */
  nox__op_t op;
  nox__req_state_t state;
  bool canceled;       /* nox_req_cancel() was called */
  bool internal;       /* started by the library (wait-ready probes) */
  int status;
  unsigned attempts;
  nox_error_t err;

  void *data;
  union {
    nox_req_cb done;
    nox_create_cb create;
    nox_exec_cb exec;
  } cb;
  nox_data_cb on_data;
  /* Completion hook of an internal request, instead of a user callback. */
  void (*internal_cb)(nox_req_t *req, int status);
  void *parent; /* the wait-ready request of a probe, NULL when detached */

  /* Parameters (owned copies). */
  char *session_id;
  char **argv;       /* NULL-terminated */
  char **env;        /* NULL-terminated "K=V", or NULL */
  char *workdir;
  uint32_t timeout_seconds;
  uint32_t ttl_seconds;
  char *image, *cpu_limit, *memory_limit, *storage_limit;
  char *path;        /* upload dest / download src */
  nox__buf_t body;   /* upload: the tar(.gz) archive */
  uint32_t wait_timeout_ms, wait_interval_ms;
  uint64_t deadline_ms; /* wait-ready: uv_now() deadline */
  nox_req_t *probe;     /* wait-ready: the probe in flight */

  /* Results (owned; handed out borrowed). */
  nox_sandbox_info_t info;
  nox_exec_result_t result;
  nox__buf_t out, errbuf, pod_name, expires_at;
  bool have_exit_code;
  bool delivered_data; /* download: on_data has seen bytes */

  /* Streaming transfers: sources and sinks (owned copies). */
  nox_file_t *files;   /* upload: paths and bytes copied */
  size_t nfiles;
  char *src_dir;       /* upload: a local directory */
  char **include, **exclude; /* NULL-terminated, or NULL */
  nox_read_cb read_cb; /* upload: the caller's bytes */
  char *extract_dir;   /* download */
  nox_entry_cb on_entry;
  nox_extract_limits_t limits;
  nox_progress_cb progress_cb;
  nox_transfer_report_t transfer;

  /* A timer for retry backoff and wait-ready pauses, made on first use. */
  uv_timer_t *timer;
  void (*timer_cb)(nox_req_t *req);

  void *backend_data;

  /* Admission control (admission.c). */
  uint8_t adm_class;  /* NOX__ADM_* */
  bool adm_admitted;  /* counted in its class's in-flight number */
  bool adm_waiting;   /* on its class's FIFO (qnode), state NEW */
  /* Runs before the callback with the final status (sandbox handles). */
  void (*observer)(nox_req_t *req, int status);
  void *observer_data;
};

/* The backend vtable: each backend implements these. */
typedef struct nox__backend {
  const char *name;
  /*
   * Make the backend's state for a client (opts has its defaults). On error
   * it must leave nothing behind: no handle, no memory.
   */
  int (*init)(nox_client_t *c);
  /*
   * Optional: check and prepare a request inside the user's starting call
   * (after the core validated and copied the parameters). An error returned
   * here is returned to the user at once and the request is dropped.
   */
  int (*prepare)(nox_req_t *req);
  /*
   * Take over a request (state RUNNING). Called from the loop, never from
   * inside the user's starting call. The backend completes it later with
   * nox__req_complete(); it may complete it at once on error.
   */
  void (*start)(nox_req_t *req);
  /*
   * Stop work on a RUNNING request (cancel or close). The core completes it
   * right after; the backend must forget it.
   */
  void (*abort)(nox_req_t *req);
  /* Release the backend_data of a request before it is freed. */
  void (*release)(nox_req_t *req);
  /*
   * Close the backend's handles; call nox__client_backend_closed(c) once
   * every one of them has been closed. No request is live any more.
   */
  void (*close)(nox_client_t *c);
  /*
   * Optional: resume a transfer a callback paused with NOX_PAUSE. Returns 0,
   * NOX_EINVAL (not paused) or NOX_EALREADY.
   */
  int (*resume)(nox_req_t *req);
} nox__backend_t;

extern const nox__backend_t nox__http_backend;
extern const nox__backend_t nox__local_backend;

/* Request classes with their own concurrency limit. 0 is "not limited". */
enum {
  NOX__ADM_NONE = 0,
  NOX__ADM_CREATE = 1,
  NOX__ADM_EXEC = 2,
  NOX__ADM_TRANSFER = 3,
  NOX__ADM_NCLASSES = 3
};

typedef struct {
  uint32_t limit;  /* 0: unlimited */
  size_t inflight; /* admitted and not yet completed */
  size_t queued;   /* waiting on fifo */
  nox__list_t fifo;
} nox__adm_class_t;

struct nox_client_s {
  uv_loop_t *loop;
  void *data; /* the caller's (nox_client_set_data) */
  const nox__backend_t *backend;
  void *backend_data;

  /* Options with defaults applied and strings owned. */
  nox_client_options_t opts;
  char *base_url;   /* without trailing slash */
  char *token;
  char *user_agent;
  char *ca_file;

  nox__list_t reqs;     /* every live request */
  size_t nreqs;
  nox__list_t start_q;  /* NEW requests to hand to the backend */
  nox__list_t cancel_q; /* RUNNING requests to abort */
  nox__list_t done_q;   /* DONE requests whose callback must run */

  uv_idle_t idle;       /* drains the queues outside every callback */
  bool idle_active;
  unsigned in_dispatch; /* depth of user callbacks running */

  bool closing;
  bool backend_closing;
  nox_close_cb close_cb;
  void *close_data;
  uint64_t rng;         /* xorshift state for retry jitter */

  /* Admission control (admission.c), indexed by NOX__ADM_* - 1. */
  nox__adm_class_t adm[NOX__ADM_NCLASSES];
  uint64_t adm_timeouts;
  /* Sandbox handles and journal (registry.c); NULL until first used. */
  struct nox__registry *registry;
  /* close waits for the registry to delete its sandboxes first. */
  bool close_deferred;
  /* The outcome of the last starting call (nox_client_last_error()). */
  nox_error_t last_error;
};

/*
 * The detail of immediate failures (nox_client_last_error()). A public call
 * that can fail at once calls nox__api_enter() first (which clears the
 * record), nox__api_fail() for the failure it finds (the first one of the
 * call wins) and returns through nox__api_leave(), which fills a generic
 * "fn: message" in when a failure came without one (out of memory). c may be
 * NULL in all three: then nothing is recorded.
 */
void nox__api_enter(nox_client_t *c);
int nox__api_fail(nox_client_t *c, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int nox__api_leave(nox_client_t *c, const char *fn, int err);

/*
 * The operations behind the public starters, with the name of the public
 * function the caller used (so that nox_sandbox_exec()'s failures say
 * "nox_sandbox_exec: ..."). Each records its immediate failure on client.
 */
int nox__create_start(const char *fn, nox_req_t **out, nox_client_t *client,
                      const char *session_id, const nox_create_options_t *opts,
                      nox_create_cb cb, void *data);
int nox__simple_start(const char *fn, nox__op_t op, nox_req_t **out,
                      nox_client_t *client, const char *session_id,
                      nox_req_cb cb, void *data);
int nox__exec_start(const char *fn, nox_req_t **out, nox_client_t *client,
                    const char *session_id, const char *const argv[],
                    const nox_exec_options_t *opts, nox_exec_cb cb, void *data);
int nox__exec_shell_start(const char *fn, nox_req_t **out,
                          nox_client_t *client, const char *session_id,
                          const char *shell, const char *script,
                          const nox_exec_options_t *opts, nox_exec_cb cb,
                          void *data);
int nox__upload_start(const char *fn, nox_req_t **out, nox_client_t *client,
                      const char *session_id, const nox_upload_options_t *opts,
                      nox_req_cb cb, void *data);
int nox__download_start(const char *fn, nox_req_t **out, nox_client_t *client,
                        const char *session_id,
                        const nox_download_options_t *opts, nox_data_cb on_data,
                        nox_req_cb cb, void *data);

/* Frees a request that never reached the queues (a failed start). */
void nox__req_discard(nox_req_t *req);

/* Marks the request's outcome and queues its callback. Idempotent. */
void nox__req_complete(nox_req_t *req, int status);

/* Sets req->err.message with printf-style formatting (first one wins). */
void nox__req_set_message(nox_req_t *req, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Runs cb(req) after ms on the request's own timer (made on first use).
 * Returns 0 or NOX_ENOMEM.
 */
int nox__req_start_timer(nox_req_t *req, uint64_t ms,
                         void (*cb)(nox_req_t *req));
void nox__req_stop_timer(nox_req_t *req);

/* Arms the idle handle so the queues are drained on the next loop turn. */
void nox__client_wake(nox_client_t *c);

/* Runs a DONE request's callback, then frees it (client.c drains). */
void nox__req_dispatch(nox_req_t *req);

/* Starts an internal exec probe of parent's session (wait.c). */
int nox__req_start_probe(nox_req_t *parent, nox_req_t **probe,
                         void (*cb)(nox_req_t *req, int status));

/* Starts the wait-ready poller of a RUNNING NOX__OP_WAIT request (wait.c). */
void nox__wait_start(nox_req_t *req);
/* Stops it on cancel or close; the core completes the request. */
void nox__wait_abort(nox_req_t *req);
/*
 * True when a failed readiness probe means "not ready yet" (unavailable,
 * connection or transport trouble, timeout, a garbled answer, a 5xx)
 * rather than "this will never work" (wait.c; also the sandbox handles).
 */
bool nox__probe_not_ready(const nox_req_t *probe, int status);

/* Called by a backend when its close has finished. */
void nox__client_backend_closed(nox_client_t *c);

/* A uniform random number in [0, 1) from the client's generator. */
double nox__client_random(nox_client_t *c);

/* strdup that returns NULL for NULL. */
char *nox__strdup(const char *s);

/* Frees a NULL-terminated string vector (NULL is fine). */
void nox__strv_free(char **v);

/* ---- admission.c ---- */
void nox__admission_init(nox_client_t *c);
/*
 * Called by the dispatcher for a NEW request it is about to start: true when
 * it may start now; false when it was queued on its class's FIFO (and will
 * be put back on start_q, admitted, when a slot frees).
 */
bool nox__admission_admit(nox_req_t *req);
/* Called when a request completes: frees its slot or leaves the FIFO. */
void nox__admission_done(nox_req_t *req);

/* ---- registry.c ---- */
/*
 * Starts deleting the registry's sandboxes when the client closes. Returns
 * true when it did; it then calls nox__client_close_resume() when done.
 */
bool nox__registry_close(nox_client_t *c);
void nox__registry_free(nox_client_t *c);
size_t nox__registry_count(const nox_client_t *c);
void nox__client_close_resume(nox_client_t *c);

/*
 * Starts a touch or delete on behalf of the library; unlike nox_touch() and
 * nox_delete() it works while the client waits for the registry to close.
 */
int nox__req_start_internal(nox_client_t *c, nox__op_t op, const char *id,
                            void (*cb)(nox_req_t *req, int status), void *data,
                            nox_req_t **out);

/* Parses "2025-01-01T00:00:00Z" (and +hh:mm offsets, fractions); -1 if bad. */
int64_t nox__parse_iso8601(const char *s);

#endif /* NOX_INTERNAL_H */
