/**
 * @file
 * libnoxrunner blocking API.
 *
 * A nox_sync_t owns a private uv_loop_t and a client on it; each call starts
 * the asynchronous operation and runs that private loop until it completes,
 * the way curl_easy_perform() drives a private multi handle. Connections are
 * kept between calls.
 *
 * A nox_sync_t is used by one thread at a time. Calling it from inside one of
 * its own callbacks (the on_data of nox_sync_download_to) fails with
 * NOX_ERECURSE.
 *
 * Results are owned by the caller and freed with the matching _free.
 */
#ifndef NOXRUNNER_SYNC_H
#define NOXRUNNER_SYNC_H

#include "../noxrunner.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A blocking client with its own private loop (opaque). */
typedef struct nox_sync_s nox_sync_t;

/**
 * Makes a blocking client. opts may be NULL for the defaults; it is copied.
 * On success *out is owned by the caller; free it with nox_sync_free().
 * Returns 0, NOX_EINVAL, NOX_EUNSUPPORTED, NOX_EISOLATION or NOX_ENOMEM.
 */
NOX_EXTERN int nox_sync_new(nox_sync_t **out, const nox_client_options_t *opts);

/** Closes the client and its private loop and frees s. NULL is a no-op. */
NOX_EXTERN void nox_sync_free(nox_sync_t *s);

/**
 * Detail of the last call on s (code 0 and message "" after a success).
 * After a failure, message always says why: the server's or curl's text for
 * a failed request, and for a call refused at once the function, the
 * argument and the rule ("nox_sync_exec: argv is NULL or empty"; taken from
 * nox_client_last_error() of the asynchronous call it wraps). Owned by s;
 * valid until the next call on s.
 */
NOX_EXTERN const nox_error_t *nox_sync_last_error(const nox_sync_t *s);

/** Blocking nox_health(). Returns 0 or an error code. */
NOX_EXTERN int nox_sync_health(nox_sync_t *s);

/** A sandbox info owned by the caller. */
NOX_EXTERN void nox_sandbox_info_free(nox_sandbox_info_t *info);

/**
 * Blocking nox_create(). If out is not NULL it receives a copy of the info on
 * success (free with nox_sandbox_info_free()), NULL on failure.
 */
NOX_EXTERN int nox_sync_create(nox_sandbox_info_t **out, nox_sync_t *s,
                               const char *session_id,
                               const nox_create_options_t *opts);

/** Blocking nox_touch(). */
NOX_EXTERN int nox_sync_touch(nox_sync_t *s, const char *session_id);

/** Blocking nox_delete(); NOX_ENOTFOUND when the sandbox did not exist. */
NOX_EXTERN int nox_sync_delete(nox_sync_t *s, const char *session_id);

/** Frees a result returned by nox_sync_exec(). NULL is a no-op. */
NOX_EXTERN void nox_exec_result_free(nox_exec_result_t *result);

/**
 * Blocking nox_exec(). On success *out is a caller-owned copy of the result
 * (free with nox_exec_result_free()); on failure *out is NULL.
 */
NOX_EXTERN int nox_sync_exec(nox_exec_result_t **out, nox_sync_t *s,
                             const char *session_id, const char *const argv[],
                             const nox_exec_options_t *opts);

/** Blocking nox_exec_shell(); as nox_sync_exec(). */
NOX_EXTERN int nox_sync_exec_shell(nox_exec_result_t **out, nox_sync_t *s,
                                   const char *session_id, const char *shell,
                                   const char *script,
                                   const nox_exec_options_t *opts);

/** Blocking nox_upload(). */
NOX_EXTERN int nox_sync_upload(nox_sync_t *s, const char *session_id,
                               const nox_upload_options_t *opts);

/**
 * Blocking nox_download() into memory. On success *buf (free with nox_free())
 * holds *len bytes of the raw archive; the size is capped by the client's
 * max_body_bytes (NOX_ETOOBIG past it). On failure *buf is NULL, *len 0.
 */
NOX_EXTERN int nox_sync_download(void **buf, size_t *len, nox_sync_t *s,
                                 const char *session_id,
                                 const nox_download_options_t *opts);

/** Receives downloaded bytes; return 0 to go on, non-zero to abort (NOX_EUSER). */
typedef int (*nox_sync_data_cb)(void *data, const char *buf, size_t len);

/**
 * Blocking nox_download() into a sink other than memory: the raw archive
 * bytes to on_data(data, ...) as they arrive, or, with on_data NULL, the
 * sink opts names: opts->extract_dir (unpacked safely into that directory,
 * see nox_download_options_t) or opts->on_entry. One of the three is
 * required (NOX_EINVAL, saying so, without any); when opts names a sink,
 * on_data is not called. data is passed to on_data only (a nox_entry_cb or
 * nox_progress_cb gets the request, whose nox_req_data() is s). The size
 * is not capped by max_body_bytes.
 */
NOX_EXTERN int nox_sync_download_to(nox_sync_t *s, const char *session_id,
                                    const nox_download_options_t *opts,
                                    nox_sync_data_cb on_data, void *data);

/**
 * Deprecated: the old name of nox_sync_download_to(), which it calls (so
 * it takes a NULL on_data too). Kept for the 0.2 release, then removed.
 */
NOX_EXTERN int nox_sync_download_cb(nox_sync_t *s, const char *session_id,
                                    const nox_download_options_t *opts,
                                    nox_sync_data_cb on_data, void *data)
    NOX_DEPRECATED("use nox_sync_download_to()");

/** Blocking nox_wait_ready(). */
NOX_EXTERN int nox_sync_wait_ready(nox_sync_t *s, const char *session_id,
                                   const nox_wait_options_t *opts);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_SYNC_H */
