/*
 * The HTTP backend: every operation is a libcurl easy transfer on the
 * client's multi handle, driven by the client's uv loop.
 *
 *   engine.c    curl multi-socket <-> uv_poll/uv_timer glue, admission queue,
 *               easy-handle pool, completion dispatch
 *   request.c   URL and body of each operation, easy-handle options
 *   response.c  header/body callbacks, status mapping, error bodies
 *   json.c      streaming yajl parse of exec and create bodies
 *   retry.c     which failures are retried and after how long
 */
#ifndef NOX_HTTP_H
#define NOX_HTTP_H

#include <curl/curl.h>
#include <yajl/yajl_parse.h>

#include "../internal.h"
#include "../tar/stream.h"

/* Error bodies are kept up to this size for their message. */
#define NOX__HTTP_MAX_ERROR_BODY 16384

typedef struct nox__http nox__http_t;

typedef enum {
  NOX__XFER_IDLE,    /* built, not queued */
  NOX__XFER_WAITING, /* on http->waiting, no curl handle */
  NOX__XFER_ACTIVE,  /* in the multi handle */
  NOX__XFER_BACKOFF  /* between attempts, on the request's timer */
} nox__xfer_state_t;

/* Streaming JSON state for exec and create bodies. */
/*
 * Bytes handed to yajl at once. yajl re-lexes a string token from its start
 * each time a chunk ends inside it, so feeding curl's 16 KiB pieces of a
 * 1 MiB stdout string would cost O(n^2); batching keeps memory bounded and
 * the work linear.
 */
#define NOX__JSON_BATCH ((size_t)256 << 10)

typedef struct nox__json {
  yajl_handle yh;
  nox__buf_t pending; /* bytes not yet given to yajl, < batch */
  size_t batch;       /* NOX__JSON_BATCH; tests lower it to split yajl's input */
  nox_req_t *req;
  int depth;
  int key; /* which top-level field the next value belongs to */
  int err; /* NOX_EPROTO once a type is wrong */
  char errmsg[128];
  bool top_is_object;
} nox__json_t;

/* One request's transfer; lives in req->backend_data. */
typedef struct nox__xfer {
  nox__http_t *http;
  nox_req_t *req;
  nox__xfer_state_t state;
  nox__list_t wnode; /* http->waiting */
  CURL *easy;
  char *url;
  const char *method; /* "GET", "PUT", "POST", "DELETE" */
  nox__buf_t json;    /* JSON request body; uploads use req->body */
  struct curl_slist *headers;
  long timeout_ms;    /* whole-attempt deadline, 0 for transfers */
  curl_off_t progress; /* bytes moved so far (stall watch of transfers) */
  uint64_t progress_at; /* uv_now() when progress last changed */

  /* Per attempt. */
  long http_status;
  size_t body_bytes;
  nox__buf_t errbody;
  nox__json_t js;
  int fail;           /* an error decided inside a curl callback */
  long retry_after_ms; /* -1: none */
  char curl_err[CURL_ERROR_SIZE];

  /* Streaming (uploads and downloads; stream.c). */
  nox__stream_t *stream; /* the pack/unpack job, from the first byte on */
  bool paused;      /* curl is paused (backpressure or NOX_PAUSE) */
  bool user_paused; /* by a callback's NOX_PAUSE: only resume() unpauses */
  bool resume_queued;
  bool read_started; /* upload: the source was asked for bytes */
  bool draining;    /* the body ended well; waiting for the worker */
  nox__list_t rnode; /* http->resume_q */
  uint64_t xbytes;  /* archive bytes moved */
  uint64_t total;   /* Content-Length of a download, 0 if unknown */
  uint64_t progress_ms; /* uv_now() of the last progress report */
} nox__xfer_t;

struct nox__http {
  nox_client_t *client;
  CURLM *multi;
  uv_timer_t timer;
  nox__list_t waiting; /* FIFO of transfers without a curl handle */
  nox__list_t socks;   /* live socket contexts */
  struct nox__sock **socks_by_fd; /* fd -> context, for curl's callbacks */
  size_t nsocks_by_fd;
  unsigned active;     /* transfers in the multi handle */
  CURL **pool;         /* reusable easy handles */
  size_t npool;
  unsigned pending_closes;
  bool closing;
  nox__pool_t *tar_pool; /* tar workers, made with the first stream */
  uv_timer_t resume_timer; /* runs nox_req_resume() outside curl callbacks */
  nox__list_t resume_q;
};

/* request.c */
int nox__http_prepare(nox_req_t *req);
int nox__http_setup_easy(nox__xfer_t *x);
void nox__http_xfer_free(nox__xfer_t *x);

/* response.c */
size_t nox__http_on_header(char *buf, size_t size, size_t n, void *ud);
size_t nox__http_on_write(char *buf, size_t size, size_t n, void *ud);
int nox__http_finish_status(nox__xfer_t *x, CURLcode rc);
void nox__http_reset_attempt(nox__xfer_t *x);

/* json.c */
int nox__json_begin(nox__json_t *js, nox_req_t *req);
int nox__json_feed(nox__json_t *js, const char *buf, size_t len);
int nox__json_end(nox__json_t *js);
void nox__json_free(nox__json_t *js);
/*
 * Pulls a message out of an error body: {"error": "..."} (or "message",
 * "detail") or plain text. True when the body was such a JSON object, so
 * the message is the server's own account of the error; then code (may be
 * NULL) receives its optional "code" string (noxd's name of the library
 * error, "NOX_EARCHIVE"), or "".
 */
bool nox__json_error_message(const char *body, size_t len, char *out,
                             size_t outlen, char *code, size_t codelen);

/* retry.c */
bool nox__http_should_retry(nox__xfer_t *x, int status, uint64_t *delay_ms);
long nox__http_parse_retry_after(const char *value);

/* engine.c */
void nox__http_enqueue(nox__xfer_t *x);
/* Reads finished transfers and feeds the admission queue. */
void nox__http_check_done(nox__http_t *h);
/* Ends an active transfer with status (no retry once bytes moved). */
void nox__http_fail(nox__xfer_t *x, int status);
/* Completes a request, filling its transfer report first. */
void nox__http_complete(nox__xfer_t *x, int status);

/* stream.c */
size_t nox__http_stream_write(nox__xfer_t *x, char *buf, size_t len);
size_t nox__http_on_read(char *buf, size_t size, size_t n, void *ud);
/* The body ended with status: decides whether to wait for the worker. */
bool nox__http_stream_finish(nox__xfer_t *x, int status);
void nox__http_stream_progress(nox__xfer_t *x, bool final);
int nox__http_resume(nox_req_t *req);
void nox__http_on_resume_timer(uv_timer_t *t);
curl_socket_t nox__http_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address);
int nox__http_close_socket(void *clientp, curl_socket_t fd);

#endif /* NOX_HTTP_H */
