/**
 * @file
 * libnoxrunner — an asynchronous client for NoxRunner sandbox backends.
 *
 * Model (read this first):
 *
 *  - A client (nox_client_t) is bound to one caller-supplied uv_loop_t and is
 *    used from that loop's thread only. It is opaque; make it with
 *    nox_client_new() and end it with nox_client_close().
 *
 *  - Every operation (nox_health, nox_create, nox_exec, ...) either returns a
 *    negative error code at once, in which case its callback never runs, or
 *    returns 0 and later calls its callback exactly once, always from the loop
 *    and never from inside the call that started it.
 *
 *  - An operation is represented by a request (nox_req_t). The library owns
 *    it: the handle stays valid from the starting call until its callback
 *    returns, and not a moment longer. Pass NULL as the out-parameter when you
 *    never need to cancel or inspect it.
 *
 *  - A callback receives (req, status, result). status is 0 or a negative
 *    NOX_E* code. The result is borrowed: it and everything it points to live
 *    until the callback returns. Copy what you keep.
 *
 *  - nox_req_cancel() and nox_client_close() still complete every request,
 *    with NOX_ECANCELED and NOX_ECLOSING respectively.
 *
 *  - The library installs no signal handlers and keeps no global state. It
 *    needs libcurl's global initialisation, which is the application's job or
 *    done explicitly with nox_library_init().
 *
 * Strings passed in are copied before the starting call returns, unless a
 * comment says otherwise.
 */
#ifndef NOXRUNNER_H
#define NOXRUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "noxrunner/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The loop type of libuv. Declared, not included, so this header stands
 * alone in strict C99; pass your uv_loop_t * where it is asked for.
 */
struct uv_loop_s;

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * The error table: XX(name, value, message). It generates the nox_errno_t
 * enum, nox_strerror() and nox_err_name(). Values never change once
 * released; new codes are appended.
 */
#define NOX_ERRNO_MAP(XX)                                                      \
  XX(EINVAL, -1, "invalid argument")                                         \
  XX(ENOMEM, -2, "out of memory")                                            \
  XX(ECANCELED, -3, "request canceled")                                      \
  XX(ECLOSING, -4, "client is closing")                                      \
  XX(ETIMEDOUT, -5, "operation timed out")                                   \
  XX(ECONNECT, -6, "could not connect to the backend")                       \
  XX(ERESOLVE, -7, "could not resolve the backend host")                     \
  XX(ETRANSPORT, -8, "connection failed during the transfer")                \
  XX(ETLS, -9, "TLS error")                                                  \
  XX(EHTTP, -10, "backend answered with an HTTP error")                      \
  XX(EAUTH, -11, "backend refused the credentials")                          \
  XX(ENOTFOUND, -12, "sandbox or path not found")                            \
  XX(EUNAVAIL, -13, "backend or sandbox unavailable")                        \
  XX(EPROTO, -14, "malformed response from the backend")                     \
  XX(ETOOBIG, -15, "response exceeds the configured limit")                  \
  XX(EARCHIVE, -16, "archive error")                                         \
  XX(EUSER, -17, "aborted by a user callback")                               \
  XX(ERECURSE, -18, "call not allowed from a callback on the same loop")     \
  XX(EBADSHELL, -19, "unsupported shell (only sh and bash)")                 \
  XX(EUNSUPPORTED, -20, "unsupported base URL")                              \
  XX(EIO, -21, "local I/O error")                                            \
  XX(EALREADY, -22, "request already completing")                            \
  XX(EINTERNAL, -23, "internal error")                                       \
  XX(EISOLATION, -24, "the requested isolation is not usable on this host")

/** Error codes. 0 is success; every error is negative. */
typedef enum {
  NOX_OK = 0,
#define NOX__ERRNO_GEN(name, value, msg) NOX_##name = (value),
  NOX_ERRNO_MAP(NOX__ERRNO_GEN)
#undef NOX__ERRNO_GEN
  NOX__ERRNO_LAST_UNUSED = -1000
} nox_errno_t;

/**
 * A human-readable message for an error code ("success" for 0, "unknown
 * error" for a value outside the table). Returns a static string.
 */
NOX_EXTERN const char *nox_strerror(int err);

/**
 * The symbolic name of an error code ("NOX_ENOTFOUND"; "NOX_OK" for 0,
 * "NOX_UNKNOWN" outside the table). Returns a static string.
 */
NOX_EXTERN const char *nox_err_name(int err);

/**
 * Detail about why one request failed. Owned by the request: valid while the
 * request is (that is, until its callback returns).
 */
typedef struct nox_error {
  /** The request's status: 0 or a NOX_E* code. */
  int code;
  /** The HTTP status of the last response, or 0 if none was received. */
  long http_status;
  /** The libcurl CURLcode of the last attempt, 0 if none or not HTTP. */
  int curl_code;
  /**
   * The most specific message known: the server's error text ("error"
   * field of a JSON body, or the plain-text body), curl's error buffer, or
   * the library's own explanation. Always NUL-terminated; "" if none.
   */
  char message[256];
} nox_error_t;

/* ------------------------------------------------------------------------ */
/* Library                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Initialises libcurl's global state (curl_global_init(CURL_GLOBAL_DEFAULT)).
 * Call it once, before any client is made and before any other thread runs,
 * unless the application initialises libcurl itself. Not thread-safe.
 * Returns 0 or NOX_EINTERNAL.
 */
NOX_EXTERN int nox_library_init(void);

/** Undoes nox_library_init(). Call it once, after every client is gone. */
NOX_EXTERN void nox_library_cleanup(void);

/** Frees memory the library handed to the caller (see nox_sync_download). */
NOX_EXTERN void nox_free(void *ptr);

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

/** A client: one backend, one loop (opaque; see nox_client_new()). */
typedef struct nox_client_s nox_client_t;
/** One operation in flight (opaque; owned by the library). */
typedef struct nox_req_s nox_req_t;

/** How the local backend isolates commands. */
typedef enum {
  /** bubblewrap when it is installed and usable, else none (with a warning). */
  NOX_ISOLATION_AUTO = 0,
  /** bubblewrap, or fail with NOX_EISOLATION when it is not usable. */
  NOX_ISOLATION_BWRAP = 1,
  /** Run commands directly on the host, in the sandbox directory. */
  NOX_ISOLATION_NONE = 2
} nox_isolation_t;

/** HTTP versions the HTTP backend may use. */
typedef enum {
  /** HTTP/2 over TLS when the server offers it, HTTP/1.1 otherwise. */
  NOX_HTTP_AUTO = 0,
  /** Always HTTP/1.1. */
  NOX_HTTP_1_1 = 1,
  /**
   * HTTP/2, with prior knowledge over cleartext http:// URLs. Note: libcurl
   * before 7.89 fails to reuse a prior-knowledge connection (curl issue
   * 10634), so on such a libcurl prefer https:// where h2 is negotiated.
   */
  NOX_HTTP_2 = 2
} nox_http_version_t;

/**
 * The layout version of nox_client_options_t this header describes. Layout
 * 2 added local_max_sandboxes and local_max_pids at the end, layout 3
 * local_auto_create after them; a program built against layout 1 or 2
 * keeps working (the fields its layout lacks take their defaults).
 */
#define NOX_CLIENT_OPTIONS_VERSION 3

/**
 * Client options. Initialise with NOX_CLIENT_OPTIONS_INIT, then set fields.
 * A zero numeric field means "the default". Every string is copied by
 * nox_client_new(); the struct may be freed as soon as it returns.
 */
typedef struct nox_client_options {
  unsigned version; /**< NOX_CLIENT_OPTIONS_VERSION */
  /**
   * Where the backend is: "http://host:port[/prefix]" or "https://..." for
   * the HTTP backend; "local:" (a root under $TMPDIR) or "local:///dir" for
   * the in-process local backend. NULL means "http://127.0.0.1:8080".
   */
  const char *base_url;
  /** Bearer token sent as "Authorization: Bearer TOKEN", or NULL. */
  const char *token;
  /** User-Agent header; NULL means "libnoxrunner/VERSION". */
  const char *user_agent;
  /** Connect timeout in ms (default 10000). */
  uint32_t connect_timeout_ms;
  /**
   * Deadline in ms for one attempt of health, create, touch and delete
   * (default 30000). For uploads and downloads it is the longest time the
   * transfer may stall without moving a byte. exec uses its own deadline:
   * its timeoutSeconds plus exec_grace_ms.
   */
  uint32_t request_timeout_ms;
  /** Added to an exec's timeoutSeconds to make its HTTP deadline (default 30000). */
  uint32_t exec_grace_ms;
  /** Most connections open at once, over all hosts (default 64). */
  uint32_t max_connections;
  /** Most connections to one host (default: max_connections). */
  uint32_t max_host_connections;
  /**
   * Most transfers handed to libcurl at once; the rest wait in a FIFO queue
   * without a socket or a curl handle (default: max_connections, or
   * 16 x max_connections with NOX_HTTP_2).
   */
  uint32_t max_transfers;
  /** Largest response body accepted, in bytes (default 64 MiB). */
  size_t max_body_bytes;
  /**
   * Most retries of one request (default 3; NOX_RETRIES_NONE for none).
   * Only idempotent requests (health, create, touch, download, delete) are
   * retried on transport failures and 429/502/503/504 (after Retry-After
   * when the answer has one, up to retry_max_ms); exec and upload only when
   * the connection was refused, so the request never reached the server. A
   * download is not retried once a byte reached its sink, nor an upload
   * whose read callback gave bytes.
   */
  uint32_t max_retries;
  /** First backoff delay in ms (default 200); doubles, with jitter. */
  uint32_t retry_base_ms;
  /** Longest backoff delay and the cap on Retry-After in ms (default 10000). */
  uint32_t retry_max_ms;
  /** One of nox_http_version_t (default NOX_HTTP_AUTO). */
  int http_version;
  /** Local backend: one of nox_isolation_t (default NOX_ISOLATION_AUTO). */
  int isolation;
  /**
   * Local backend: cap on each of stdout and stderr in bytes (default
   * 1 MiB). Output past it is read and dropped; the result keeps the first
   * max_output_bytes bytes and says so in nox_exec_result_t::out_truncated
   * and err_truncated.
   */
  size_t max_output_bytes;
  /** Local backend: how often expired sandboxes are reaped, in ms (default 10000). */
  uint32_t reap_interval_ms;
  /**
   * HTTPS: a PEM file of CA certificates to trust instead of the system's,
   * or NULL. Copied.
   */
  const char *ca_file;
  /**
   * Worker threads the client owns for packing, unpacking and disk work of
   * transfers (default 2). They start with the first transfer and stop at
   * close.
   */
  uint32_t tar_workers;
  /** Bytes buffered per streaming transfer before it pauses (default 1 MiB). */
  size_t stream_buffer_bytes;
  /*
   * Admission control (see noxrunner/sandbox.h, nox_client_stats()). Each
   * limit caps how many requests of its class are handed to the backend at
   * once; the rest wait, not yet started, in a FIFO queue of their class.
   * 0 means unlimited (the default).
   */
  /** Most creates in flight at once. */
  uint32_t max_creating;
  /** Most execs in flight at once (wait-ready probes included). */
  uint32_t max_execs;
  /** Most uploads and downloads in flight at once. */
  uint32_t max_transfers_inflight;
  /**
   * Longest wait in an admission queue, in ms; a request still queued then
   * completes with NOX_ETIMEDOUT without having been sent. 0: no deadline.
   */
  uint32_t queue_deadline_ms;
  /**
   * Local backend: most live sandboxes under the root (0: unlimited, the
   * default). A sandbox is live from its creation until it is deleted or its
   * TTL has passed; expired ones not yet reaped, and directories left
   * half-made by a crash, do not count. Only making a NEW sandbox is
   * refused past the cap, with NOX_EUNAVAIL: nox_create() of an id that
   * does not exist, and the sandbox nox_exec() makes for an unknown id with
   * local_auto_create.
   * nox_create() of a live id and every operation on live sandboxes still
   * work; a delete or an expiry frees a slot at once. The count covers the
   * whole root and is taken under the root's lock, so processes sharing a
   * root share the cap; each enforces its own value of this option.
   */
  uint32_t local_max_sandboxes;
  /**
   * Local backend: most processes and threads the running commands of one
   * sandbox may have together (default 1024; UINT32_MAX: no limit). Enforced
   * with a pids cgroup per sandbox where this process may make cgroups in a
   * cgroup v1 pids hierarchy, as root usually can (cgroup v2 is not used);
   * a fork past it fails with EAGAIN inside the sandbox, and an exec that
   * cannot start for it fails with NOX_EUNAVAIL. Killed processes count
   * until they are reaped. The cgroup also lets a timeout, the end of
   * a command, a delete or the reaper kill every process a command started,
   * even those that left its process group. Without a usable hierarchy
   * nothing is limited, and the first exec prints a warning on stderr unless
   * isolation is NOX_ISOLATION_NONE.
   */
  uint32_t local_max_pids;
  /**
   * Local backend: nonzero makes nox_exec() on an id that names no live
   * sandbox create it (default TTL, no limits) and run the command there,
   * as the Python client's local mode does; kept for compatibility with
   * it. 0 (the default) fails such an exec with NOX_ENOTFOUND, as the
   * spec and the HTTP backend do, so a mistyped, deleted or expired id
   * never silently becomes a fresh sandbox. Upload, download and touch of
   * an unknown id fail with NOX_ENOTFOUND either way. Layout 3.
   */
  int local_auto_create;
} nox_client_options_t;

/** Use as max_retries to turn retries off (0 means "the default"). */
#define NOX_RETRIES_NONE UINT32_MAX

/** Initialiser of nox_client_options_t: every field at its default. */
#define NOX_CLIENT_OPTIONS_INIT                                                \
  { NOX_CLIENT_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
    NOX_HTTP_AUTO, NOX_ISOLATION_AUTO, 0, 0, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/** Called once when nox_client_close() has finished; data is the caller's. */
typedef void (*nox_close_cb)(void *data);

/**
 * Makes a client bound to loop. opts may be NULL for the defaults.
 *
 * On success *out is the client, owned by the caller until it is passed to
 * nox_client_close(). The loop must outlive the client: run it until the
 * close callback has fired. Returns 0, NOX_EINVAL (bad option or version),
 * NOX_EUNSUPPORTED (base_url scheme), NOX_EISOLATION (isolation
 * NOX_ISOLATION_BWRAP and bubblewrap missing or unusable) or NOX_ENOMEM.
 */
NOX_EXTERN int nox_client_new(nox_client_t **out, struct uv_loop_s *loop,
                              const nox_client_options_t *opts);

/**
 * Closes the client. Every request not yet completed is completed with
 * NOX_ECLOSING (its callback runs, from the loop); then every uv handle the
 * client owns is closed, cb(data) runs (cb may be NULL) and the memory is
 * freed. May be called from inside any callback of this client. After this
 * call, starting operations on the client fails with NOX_ECLOSING.
 * When the client holds sandbox handles (noxrunner/sandbox.h), their
 * sandboxes are deleted first, while requests already running go on; only
 * then is everything else completed with NOX_ECLOSING.
 * Returns 0, or NOX_ECLOSING if the client is already closing.
 */
NOX_EXTERN int nox_client_close(nox_client_t *client, nox_close_cb cb,
                                void *data);

/**
 * Why the last call on this client that can fail at once did so (hiredis'
 * errstr idea): code is the error it returned and message names the
 * function, the argument and the rule broken, for example
 * "nox_exec: argv is NULL or empty" or "nox_upload: file name \"../x\"
 * (opts->files[0].path) must be a relative path without \"..\"".
 * http_status and curl_code are 0: nothing was sent.
 *
 * Every function that takes this client (directly, or through a request,
 * a sandbox handle or a fan-out of it) and returns an error code records
 * its outcome here: a failure overwrites the record, a success clears it
 * (code 0, message ""). Accessors (nox_client_loop(), nox_client_pending(),
 * nox_client_stats(), nox_req_error(), ...) leave it alone, and so does a
 * call that fails for a NULL client, request or handle (it has nowhere to
 * say so; nox_client_new() has no client yet either).
 *
 * Failures reported later, to a callback, are in nox_req_error() instead.
 *
 * The pointer is owned by the client and valid until its close callback
 * runs (NULL for a NULL client). Read it right after the call that failed:
 * the next such call on the client, including those the library makes
 * itself while the loop runs (sandbox handles, fan-outs), overwrites it.
 */
NOX_EXTERN const nox_error_t *nox_client_last_error(const nox_client_t *client);

/** The loop the client is bound to. */
NOX_EXTERN struct uv_loop_s *nox_client_loop(const nox_client_t *client);

/** Number of requests started and not yet completed. */
NOX_EXTERN size_t nox_client_pending(const nox_client_t *client);

/**
 * Sets the client's user pointer, which the library never reads (NULL
 * until set). The caller keeps ownership of what it points to; it must stay
 * valid for as long as the caller reads it back, typically until the close
 * callback. Unlike nox_client_last_error(), it is left alone by every other
 * call. Does nothing for a NULL client.
 */
NOX_EXTERN void nox_client_set_data(nox_client_t *client, void *data);

/** The client's user pointer (NULL if never set, or for a NULL client). */
NOX_EXTERN void *nox_client_data(const nox_client_t *client);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Cancels a request. Its callback still runs once, later, with NOX_ECANCELED.
 * Returns 0, or NOX_EALREADY when the request's outcome is already decided
 * and its callback is about to run or running. req must be a live handle
 * (its callback has not returned).
 */
NOX_EXTERN int nox_req_cancel(nox_req_t *req);

/** The user pointer given when the request was started. */
NOX_EXTERN void *nox_req_data(const nox_req_t *req);

/** The client that started the request. */
NOX_EXTERN nox_client_t *nox_req_client(const nox_req_t *req);

/**
 * Failure detail (HTTP status, server message, curl code). Borrowed from the
 * request; valid until its callback returns.
 */
NOX_EXTERN const nox_error_t *nox_req_error(const nox_req_t *req);

/** How many times the request was sent (1 + retries; 0 if never sent). */
NOX_EXTERN unsigned nox_req_attempts(const nox_req_t *req);

/** Completion callback of operations that return no data. */
typedef void (*nox_req_cb)(nox_req_t *req, int status);

/**
 * Receives bytes as they arrive (downloads). buf is borrowed for the call.
 * Return 0 to go on, anything else to abort the request with NOX_EUSER. The
 * callback runs on the loop thread; it may cancel the request or close the
 * client, and it may start other requests.
 */
typedef int (*nox_data_cb)(nox_req_t *req, const char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

/*
 * Common rules for every nox_<operation>() below:
 *  - out: receives the request handle if not NULL (valid until the callback
 *    returns); client: the client; session_id: any non-empty string of up to
 *    1024 bytes, percent-encoded on the wire; cb: required; data: stored on
 *    the request, read with nox_req_data().
 *  - Returns 0 (the callback will run exactly once) or an error at once (the
 *    callback never runs): NOX_EINVAL, NOX_ENOMEM, NOX_ECLOSING.
 *  - Errors given to callbacks: NOX_ECANCELED, NOX_ECLOSING, NOX_ETIMEDOUT,
 *    NOX_ECONNECT, NOX_ERESOLVE, NOX_ETRANSPORT, NOX_ETLS, NOX_EAUTH (401,
 *    403), NOX_ENOTFOUND (404), NOX_EINVAL (400 with a JSON error body: the
 *    backend refused the request, as the local backend does for the same
 *    input; the server's text is in nox_req_error(); NOX_EARCHIVE or
 *    NOX_EBADSHELL when the body's "code" says so), NOX_EUNAVAIL (503),
 *    NOX_EHTTP (other non-2xx, and a 400 without a JSON error body; see
 *    nox_req_error()), NOX_EPROTO, NOX_ETOOBIG.
 */

/** GET /healthz. Succeeds on a 2xx answer. */
NOX_EXTERN int nox_health(nox_req_t **out, nox_client_t *client,
                          nox_req_cb cb, void *data);

/** The layout version of nox_create_options_t. */
#define NOX_CREATE_OPTIONS_VERSION 1

/** Options of nox_create(). Strings may be NULL (not sent). */
typedef struct nox_create_options {
  unsigned version;            /**< NOX_CREATE_OPTIONS_VERSION */
  uint32_t ttl_seconds;        /**< default 900 */
  const char *image;           /**< container image, backend-defined */
  const char *cpu_limit;       /**< e.g. "1" or "500m" */
  const char *memory_limit;    /**< e.g. "512Mi" */
  const char *ephemeral_storage_limit; /**< e.g. "1Gi" */
} nox_create_options_t;

/** Initialiser of nox_create_options_t (TTL 900 s, nothing else sent). */
#define NOX_CREATE_OPTIONS_INIT                                                \
  { NOX_CREATE_OPTIONS_VERSION, 900, NULL, NULL, NULL, NULL }

/** What the backend said about a sandbox it created. Borrowed. */
typedef struct nox_sandbox_info {
  const char *pod_name;   /**< "" when the backend sent none */
  const char *expires_at; /**< ISO-8601 as sent; "" when none */
  /** expires_at in seconds since the epoch, or -1 if absent or unparsable. */
  int64_t expires_at_unix;
} nox_sandbox_info_t;

/**
 * Completion callback of nox_create(). info is NULL unless status is 0;
 * it is borrowed until the callback returns.
 */
typedef void (*nox_create_cb)(nox_req_t *req, int status,
                              const nox_sandbox_info_t *info);

/**
 * PUT /v1/sandboxes/{id}: creates the sandbox, or ensures it exists.
 * opts may be NULL for the defaults. info is NULL unless status is 0.
 */
NOX_EXTERN int nox_create(nox_req_t **out, nox_client_t *client,
                          const char *session_id,
                          const nox_create_options_t *opts, nox_create_cb cb,
                          void *data);

/** POST /v1/sandboxes/{id}/touch: resets the TTL. 200 and 204 both succeed. */
NOX_EXTERN int nox_touch(nox_req_t **out, nox_client_t *client,
                         const char *session_id, nox_req_cb cb, void *data);

/**
 * DELETE /v1/sandboxes/{id}. 200 and 204 succeed; 404 gives NOX_ENOTFOUND,
 * which callers that only want the sandbox gone may treat as success.
 */
NOX_EXTERN int nox_delete(nox_req_t **out, nox_client_t *client,
                          const char *session_id, nox_req_cb cb, void *data);

/** The layout version of nox_exec_options_t. */
#define NOX_EXEC_OPTIONS_VERSION 1

/** Options of nox_exec() and nox_exec_shell(). */
typedef struct nox_exec_options {
  unsigned version;    /**< NOX_EXEC_OPTIONS_VERSION */
  const char *workdir; /**< NULL means "/workspace" */
  /** NULL-terminated array of "NAME=value" strings, or NULL. */
  const char *const *env;
  /** The command's own time limit on the backend (default 30). */
  uint32_t timeout_seconds;
} nox_exec_options_t;

/** Initialiser of nox_exec_options_t (/workspace, no env, 30 s). */
#define NOX_EXEC_OPTIONS_INIT { NOX_EXEC_OPTIONS_VERSION, NULL, NULL, 30 }

/**
 * The outcome of a command. Borrowed. out and err are binary-safe: use the
 * lengths; both are also NUL-terminated for convenience.
 */
typedef struct nox_exec_result {
  int exit_code;       /**< 124: timed out, 127: program not found */
  int64_t duration_ms; /**< as reported by the backend, -1 if absent */
  const char *out;     /**< the command's stdout */
  size_t out_len;     /**< bytes in out */
  const char *err;     /**< the command's stderr */
  size_t err_len;     /**< bytes in err */
  /**
   * 1 when the backend cut stdout at its output cap: out then holds the
   * first bytes the command wrote, exactly as written, and nothing else.
   * The local backend sets it when stdout passed
   * nox_client_options_t::max_output_bytes; the HTTP backend takes it from
   * the answer's optional "stdoutTruncated" field (0 when the field is
   * absent). Part of the borrowed result, like the fields above.
   */
  int out_truncated;
  /** The same as out_truncated for stderr ("stderrTruncated"). */
  int err_truncated;
} nox_exec_result_t;

/**
 * Completion callback of nox_exec() and nox_exec_shell(). result is NULL
 * unless status is 0; it is borrowed until the callback returns.
 */
typedef void (*nox_exec_cb)(nox_req_t *req, int status,
                            const nox_exec_result_t *result);

/**
 * POST /v1/sandboxes/{id}/exec. argv is a NULL-terminated array with at
 * least one element; strings must be valid UTF-8. opts may be NULL. A
 * non-zero exit code is not an error: status is 0 and result->exit_code
 * tells. result is NULL unless status is 0. The HTTP deadline is
 * timeout_seconds plus the client's exec_grace_ms. An id that names no
 * live sandbox fails with NOX_ENOTFOUND (404); create it first, or see
 * nox_client_options_t::local_auto_create for the local backend.
 */
NOX_EXTERN int nox_exec(nox_req_t **out, nox_client_t *client,
                        const char *session_id, const char *const argv[],
                        const nox_exec_options_t *opts, nox_exec_cb cb,
                        void *data);

/**
 * Runs script with `shell -c script`. shell is "sh", "bash" or NULL (sh);
 * any other gives NOX_EBADSHELL at once.
 */
NOX_EXTERN int nox_exec_shell(nox_req_t **out, nox_client_t *client,
                              const char *session_id, const char *shell,
                              const char *script,
                              const nox_exec_options_t *opts, nox_exec_cb cb,
                              void *data);

/* ---- Streaming transfers ------------------------------------------------ */

/*
 * Uploads and downloads stream: an archive is produced while it is sent and
 * consumed while it arrives, through a bounded buffer, so memory per
 * transfer stays bounded whatever the archive's size. Packing, unpacking,
 * compression and disk access run on a small pool of worker threads owned
 * by the client (nox_client_options_t.tar_workers), never on the loop
 * thread. Every callback below still runs on the loop thread.
 */

/**
 * Returned by a nox_data_cb or nox_read_cb to pause the transfer until
 * nox_req_resume() is called (backpressure for a slow consumer/producer).
 * A nox_data_cb that returns it has not taken the bytes: the same bytes are
 * offered again after the resume. A distinctive value, so that callbacks
 * returning 1 (or -1) to abort keep aborting.
 */
#define NOX_PAUSE 0x50415553

/**
 * Resumes a transfer paused by a callback that returned NOX_PAUSE. Call it
 * from the loop thread, outside that callback. Returns 0, NOX_EINVAL if the
 * request is not a paused transfer, NOX_EALREADY if it already ended.
 */
NOX_EXTERN int nox_req_resume(nox_req_t *req);

/** How far a transfer has gone. */
typedef struct nox_progress {
  uint64_t bytes;   /**< archive bytes sent or received so far */
  uint64_t total;   /**< archive size when known, else 0 */
  uint64_t entries; /**< archive entries packed or unpacked so far */
  /**
   * File content bytes packed so far (the data of regular files, without
   * tar headers or compression), when the library packs the archive: an
   * upload from files or dir, and on the local backend also a download
   * (which packs the sandbox's tree); else 0. At the end of an upload from
   * files or dir it is the sum of the packed files' sizes, so a caller who
   * added those sizes up beforehand can show a percentage. Appended in
   * 0.2; the library owns the struct.
   */
  uint64_t data_bytes;
} nox_progress_t;

/** Progress report, at most every 100 ms and once at the end. Borrowed. */
typedef void (*nox_progress_cb)(nox_req_t *req, const nox_progress_t *p);

/**
 * Supplies raw archive bytes (tar or tar.gz) for an upload: fill buf with
 * up to cap bytes and set *nread; *nread == 0 ends the archive. Return 0,
 * NOX_PAUSE (nothing now; call nox_req_resume() when there is), or any
 * other value to abort the upload with NOX_EUSER.
 */
typedef int (*nox_read_cb)(nox_req_t *req, char *buf, size_t cap,
                           size_t *nread);

/** One in-memory file to upload. */
typedef struct nox_file {
  /**
   * Relative path inside the destination ("dir/a.txt"): not absolute, no
   * ".." component, and naming a file (not ending in "/" or "/.").
   */
  const char *path;
  const void *data; /**< may be NULL when len is 0 */
  size_t len;       /**< bytes in data */
  unsigned mode; /**< permission bits; 0 means 0644 */
} nox_file_t;

/** The layout version of nox_upload_options_t. */
#define NOX_UPLOAD_OPTIONS_VERSION 1

/**
 * Options of nox_upload(). Give exactly one source:
 *  - files: in-memory files, packed as a gzip tar while it is sent;
 *  - archive: a ready tar or tar.gz in memory, sent as is;
 *  - dir: a local directory, packed recursively as a gzip tar while it is
 *    sent (regular files, directories including empty ones, symlinks stored
 *    as symlinks; modes and mtimes kept; sorted by name), filtered by
 *    include/exclude;
 *  - read: raw archive bytes from the caller, pulled as curl sends them.
 * The body goes out chunked: no Content-Length is needed.
 */
typedef struct nox_upload_options {
  unsigned version;        /**< NOX_UPLOAD_OPTIONS_VERSION */
  const char *dest;        /**< NULL means "/workspace" */
  const nox_file_t *files; /**< copied before nox_upload() returns */
  size_t nfiles;           /**< entries in files */
  const void *archive;     /**< copied before nox_upload() returns */
  size_t archive_len;      /**< bytes in archive */
  const char *dir;         /**< copied; read while the upload runs */
  /**
   * NULL-terminated fnmatch(3) patterns matched against each path relative
   * to dir ("src/a.c"); a directory that does not match is still walked.
   * include NULL means everything; exclude wins over include. Copied.
   */
  const char *const *include;
  const char *const *exclude; /**< see include */
  nox_read_cb read;        /**< the caller supplies the archive's bytes */
  nox_progress_cb progress; /**< optional */
} nox_upload_options_t;

/** Initialiser of nox_upload_options_t (no source chosen yet). */
#define NOX_UPLOAD_OPTIONS_INIT                                                \
  { NOX_UPLOAD_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL,      \
    NULL, NULL }

/**
 * POST /v1/sandboxes/{id}/files/upload?dest=DEST with a tar.gz body.
 * Retries: an upload from files, dir or read is retried only when the
 * connection was refused before the source gave any byte.
 * Immediate errors also include NOX_EARCHIVE (a file could not be packed).
 * Errors given to cb also include NOX_EIO (dir unreadable), NOX_EARCHIVE
 * and NOX_EUSER.
 * Uploads into the same place at once all succeed; each file ends up as
 * one upload's whole version of it (content and mode), the last written.
 */
NOX_EXTERN int nox_upload(nox_req_t **out, nox_client_t *client,
                          const char *session_id,
                          const nox_upload_options_t *opts, nox_req_cb cb,
                          void *data);

/** Entry types reported by a nox_entry_cb. */
typedef enum {
  NOX_ENTRY_FILE = 0,
  NOX_ENTRY_DIR = 1,
  NOX_ENTRY_SYMLINK = 2,
  NOX_ENTRY_HARDLINK = 3,
  NOX_ENTRY_OTHER = 4 /**< devices, FIFOs: never extracted */
} nox_entry_type_t;

/** One archive entry's header. Borrowed for the callback. */
typedef struct nox_entry {
  const char *path;   /**< as stored in the archive */
  int type;           /**< nox_entry_type_t */
  unsigned mode;      /**< permission bits */
  int64_t size;       /**< data size of a file, else 0 */
  int64_t mtime;      /**< seconds since the epoch */
  const char *link;   /**< symlink or hardlink target, else NULL */
} nox_entry_t;

/**
 * Receives a download entry by entry: once with data NULL for the entry's
 * header, then with each chunk of its data (files only). Return 0, or any
 * other value to abort with NOX_EUSER.
 */
typedef int (*nox_entry_cb)(nox_req_t *req, const nox_entry_t *entry,
                            const char *data, size_t len);

/**
 * Limits of a download that is unpacked (extract_dir or on_entry). 0 means
 * the default. Passing one ends the download with NOX_ETOOBIG, with nothing
 * beyond the limit written.
 */
typedef struct nox_extract_limits {
  uint64_t max_entries;     /**< default 1,000,000 */
  uint64_t max_bytes;       /**< total unpacked bytes, default 64 GiB */
  uint64_t max_entry_bytes; /**< one entry's size, default 16 GiB */
  uint32_t max_ratio;       /**< unpacked / packed bytes, default 1000 */
} nox_extract_limits_t;

/** The layout version of nox_download_options_t. */
#define NOX_DOWNLOAD_OPTIONS_VERSION 1

/**
 * Options of nox_download(). Choose the sink: the on_data argument of
 * nox_download() (raw bytes), extract_dir, or on_entry (not both of the
 * last two; either one takes over from on_data, which may then be NULL). Plain tar and
 * gzip tar are both accepted (detected, whatever the content type says).
 *
 * extract_dir is unpacked safely: absolute paths, ".." components, links
 * that point outside, writes through symlinks, device nodes and FIFOs are
 * refused (counted and named in nox_req_transfer(), not written). The
 * archive is unpacked into a temporary directory beside extract_dir and
 * renamed onto it only when the whole download succeeded, so extract_dir
 * must not exist or be an empty directory; on any failure or cancel the
 * temporary directory is removed and extract_dir is left as it was. (After
 * a cancel or a transport error the worker removes it as it stops, which may
 * be just after cb ran; it is gone at the latest when the client's close
 * callback runs.) The temporary directory is ".NAME.noxXXXXXX" beside it.
 */
typedef struct nox_download_options {
  unsigned version;    /**< NOX_DOWNLOAD_OPTIONS_VERSION */
  const char *src;     /**< NULL means "/workspace" */
  const char *extract_dir; /**< copied */
  nox_entry_cb on_entry;   /**< receive the unpacked entries */
  nox_extract_limits_t limits; /**< for extract_dir and on_entry */
  nox_progress_cb progress; /**< optional */
} nox_download_options_t;

/** Initialiser of nox_download_options_t (raw bytes of /workspace). */
#define NOX_DOWNLOAD_OPTIONS_INIT                                              \
  { NOX_DOWNLOAD_OPTIONS_VERSION, NULL, NULL, NULL, {0, 0, 0, 0}, NULL }

/**
 * GET /v1/sandboxes/{id}/files/download?src=SRC. With on_data (and neither
 * extract_dir nor on_entry), the archive's raw bytes go to on_data as they
 * arrive; on_data may return NOX_PAUSE. Then cb runs once. A retry after a
 * failure is made only if no byte has reached the sink yet, so nothing is
 * ever seen twice. The body size is not capped by max_body_bytes (it
 * streams); a stall longer than request_timeout_ms ends it with
 * NOX_ETIMEDOUT. Errors given to cb also include NOX_EARCHIVE (not a tar),
 * NOX_ETOOBIG (a limit), NOX_EIO (writing extract_dir) and NOX_EUSER.
 */
NOX_EXTERN int nox_download(nox_req_t **out, nox_client_t *client,
                            const char *session_id,
                            const nox_download_options_t *opts,
                            nox_data_cb on_data, nox_req_cb cb, void *data);

/** What a transfer did, for uploads and downloads. Borrowed. */
typedef struct nox_transfer_report {
  /**
   * Archive bytes moved. For a download, the size of the archive of src as
   * the backend serves it (a tar.gz from noxd and the local backend),
   * whatever the sink: on
   * the local backend an extract_dir or on_entry download counts the
   * archive it packs for itself. For an upload of files or a dir on the
   * local backend, the size of the (uncompressed) archive it packs.
   */
  uint64_t bytes;
  uint64_t entries; /**< entries packed or unpacked */
  uint64_t refused; /**< entries refused by the extraction policy */
  char first_refused[256]; /**< path of the first refused entry, or "" */
  /**
   * Entries written to disk whose setuid/setgid bits were removed. An
   * extraction (extract_dir; an upload on the local backend or noxd) never
   * leaves S_ISUID or S_ISGID from an archive on a file or directory; this
   * counts the entries that asked for them. 0 for on_data and on_entry
   * downloads, and for uploads over HTTP (the server extracts).
   */
  uint64_t stripped;
} nox_transfer_report_t;

/**
 * The transfer report of an upload or download; valid until its callback
 * returns (so read it there). NULL for other requests.
 */
NOX_EXTERN const nox_transfer_report_t *
nox_req_transfer(const nox_req_t *req);

/** The layout version of nox_wait_options_t. */
#define NOX_WAIT_OPTIONS_VERSION 1

/** Options of nox_wait_ready(). */
typedef struct nox_wait_options {
  unsigned version;     /**< NOX_WAIT_OPTIONS_VERSION */
  uint32_t timeout_ms;  /**< overall deadline (default 30000) */
  uint32_t interval_ms; /**< pause between probes (default 2000) */
} nox_wait_options_t;

/** Initialiser of nox_wait_options_t (30 s deadline, a probe every 2 s). */
#define NOX_WAIT_OPTIONS_INIT { NOX_WAIT_OPTIONS_VERSION, 30000, 2000 }

/**
 * Polls the sandbox with `echo ready` until it answers with exit code 0
 * (status 0) or the deadline passes (NOX_ETIMEDOUT). Probes that fail with
 * NOX_EUNAVAIL, a connection error, a timeout or a 5xx are retried after
 * interval_ms; any other error ends the wait with that error. The waits run
 * on a uv timer; nothing blocks.
 */
NOX_EXTERN int nox_wait_ready(nox_req_t **out, nox_client_t *client,
                              const char *session_id,
                              const nox_wait_options_t *opts, nox_req_cb cb,
                              void *data);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_H */
