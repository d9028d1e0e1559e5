/*
 * noxd: the reference NoxRunner backend server. A libnoxrunner client with a
 * local:///ROOT base URL behind a libmicrohttpd front, both driven by one
 * uv loop. Built on the public API only.
 */
#ifndef NOXD_H
#define NOXD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>
#include <uv.h>
#include <noxrunner.h>
#include <noxrunner/util.h>

#include "mhd_uv.h"

#define NOXD_DEFAULT_LISTEN "127.0.0.1:8080"
#define NOXD_DEFAULT_MAX_BODY ((size_t)64 << 20)
/* Most of a declared request body allocated before it arrives. */
#define NOXD_BODY_PREALLOC ((long long)1 << 20)
/* Bytes of a download buffered between the sandbox and the client. */
#define NOXD_STREAM_BUF ((size_t)1 << 20)
/* How long a shutdown waits for answers to reach their clients. */
#define NOXD_DRAIN_MS 5000u
/* A body over --max-body is read and thrown away up to this many times it. */
#define NOXD_DRAIN_FACTOR 64
/* Idle keep-alive connections are closed after this many seconds. */
#define NOXD_CONNECTION_TIMEOUT_S 120u
#define NOXD_DEFAULT_MAX_EXECS 256u
/* Retry-After of a 503 past --max-execs, and past --max-sandboxes. */
#define NOXD_RETRY_AFTER_EXECS "1"
#define NOXD_RETRY_AFTER_SANDBOXES "5"
#define NOXD_DEFAULT_HEADER_TIMEOUT_S 10u
#define NOXD_DEFAULT_BODY_TIMEOUT_S 30u
#define NOXD_DEFAULT_MIN_UPLOAD_RATE                                           \
  1024u /* bytes/s, after the header timeout */

#define NOXD_MAX_TTL_SECONDS (86400 * 7)
#define NOXD_MAX_TIMEOUT_SECONDS 86400
/* Kept of each of a command's stdout and stderr (the library's default). */
#define NOXD_DEFAULT_MAX_OUTPUT ((size_t)1 << 20)
#define NOXD_DEFAULT_TTL_SECONDS 900
#define NOXD_DEFAULT_TIMEOUT_SECONDS 30

typedef struct noxd_config {
  const char *listen;        /* "HOST:PORT" or "[V6]:PORT" */
  const char *root;          /* sandbox root directory */
  int isolation;             /* nox_isolation_t */
  const char *token;         /* NULL: no authentication */
  size_t max_body;           /* request bodies and buffered downloads */
  unsigned max_execs;        /* commands running at once; past it, 503 */
  unsigned header_timeout_s; /* a new connection's request line and headers */
  unsigned body_timeout_s;   /* a JSON request body */
  unsigned min_upload_rate;  /* bytes/s an upload body must average */
  unsigned max_sandboxes;    /* live sandboxes under root; 0: unlimited */
  unsigned max_pids;         /* per sandbox; 0: the library's default */
  size_t max_output;         /* per stream of one exec; 0: the default */
  bool auto_create;          /* an exec of an unknown id makes it */
} noxd_config_t;

typedef struct noxd_server {
  uv_loop_t *loop;
  nox_client_t *client; /* NULL once closed */
  struct MHD_Daemon *mhd;
  noxd_mhd_uv_t front; /* runs mhd on loop */
  uv_timer_t drain;    /* shutdown deadline */
  uv_signal_t sigterm, sigint;
  MHD_socket listen_fd; /* handed back by MHD_quiesce_daemon() */
  char *token;
  size_t token_len;
  size_t max_body;
  unsigned active;           /* requests between first call and completion */
  unsigned execs, max_execs; /* commands running, and the cap */
  unsigned header_timeout_s, body_timeout_s, min_upload_rate;
  void *fresh;           /* connections still sending their first request */
  uv_timer_t sweep;      /* cuts those that take longer than header_timeout_s */
  unsigned suspended;    /* connections waiting on a nox request */
  unsigned quiet_aborts; /* MHD messages not to log: clients that left */
  bool stopping;
  bool drained; /* the drain deadline has passed */
  bool finished;
  char host[80]; /* as printed in the listening line */
  unsigned port;
} noxd_server_t;

typedef enum {
  NOXD_OP_NONE,
  NOXD_OP_HEALTH,
  NOXD_OP_CREATE,
  NOXD_OP_DELETE,
  NOXD_OP_TOUCH,
  NOXD_OP_EXEC,
  NOXD_OP_UPLOAD,
  NOXD_OP_DOWNLOAD
} noxd_op_t;

/* One HTTP request, from its headers to its completion. */
typedef struct noxd_conn {
  noxd_server_t *srv;
  struct MHD_Connection *mhd;
  uint64_t start_ns;
  uint64_t body_bytes; /* request body received so far */
  char method[16];
  char *path; /* raw, for the log */
  noxd_op_t op;
  char *id;          /* decoded session id */
  const char *allow; /* methods of the matched path, for a 405 */

  char *body; /* NUL-terminated */
  size_t body_len, body_cap;

  /* A streamed download: bytes between the nox request and MHD's reader. */
  nox_req_t *req; /* the download in flight, NULL when none */
  char *dl;
  size_t dl_off, dl_len, dl_cap;
  bool dl_started; /* the 200 and its reader are queued */
  bool dl_paused;  /* the nox download waits for room (NOX_PAUSE) */
  bool dl_done;
  int dl_status;
  bool dead; /* MHD ended the request; freed when the transfer ends */
  /* A streamed upload reuses the buffer above for the body in flight. */
  bool ul_started;   /* the nox upload was started (first body bytes) */
  bool ul_paused;    /* its read callback waits for bytes (NOX_PAUSE) */
  bool ul_eof;       /* MHD delivered the whole body */
  bool ul_wait_room; /* the connection is suspended until there is room */

  /*
   * The nox request a suspended connection waits on (an exec), canceled when
   * the client goes away first; peer_watch watches the socket meanwhile.
   */
  nox_req_t *waiting;
  void *peer_watch;
  bool peer_gone; /* the client left before the answer: none is sent */

  struct MHD_Response *resp; /* answer ready to queue */
  unsigned resp_status;
  unsigned status; /* the status queued, for the log */
  bool started;    /* the operation was dispatched */
  bool suspended;
} noxd_conn_t;

/* routes.c: takes up to n body bytes of a streamed upload; returns the count.
 */
size_t noxd_upload_data(noxd_conn_t *c, const char *data, size_t n);
/* The body of a streamed upload has ended; false if none was started. */
bool noxd_upload_end(noxd_conn_t *c);

/* server.c */
/*
 * Listens as cfg says, with a client on a local:// URL of cfg->root, both on
 * loop. Returns 0, or -1 after printing why (nothing is left open then).
 */
int noxd_server_start(noxd_server_t *s, uv_loop_t *loop,
                      const noxd_config_t *cfg);
/* Stops accepting; answers what is open, then closes everything. */
void noxd_server_stop(noxd_server_t *s);

/* conn.c */
/* The daemon in epoll mode, its callbacks those of conn.c; NULL on failure. */
struct MHD_Daemon *noxd_daemon_start(noxd_server_t *s, bool ipv6,
                                     const struct sockaddr *addr);
/* Cuts connections that sent no complete request in header_timeout_s. */
void noxd_sweep(noxd_server_t *s);
/* Suspends the connection (from an MHD callback) until noxd_resume(). */
void noxd_suspend(noxd_conn_t *c);
void noxd_conn_free(noxd_conn_t *c);
/* Answers that the connection will queue when it is next processed. */
void noxd_reply(noxd_conn_t *c, unsigned status, const char *content_type,
                char *body, size_t len);
void noxd_reply_error(noxd_conn_t *c, unsigned status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/*
 * The same for an error of the server's library client: the body also says
 * which one ("code": nox_err_name(err)), so that a libnoxrunner client
 * gives the code the local backend would have given.
 */
void noxd_reply_nox_error(noxd_conn_t *c, int err, const char *msg);
/* Called by an operation's callback: the answer is set, go on with it. */
void noxd_resume(noxd_conn_t *c);

/* routes.c */
/* Maps method and raw path to c->op and c->id, or sets an error answer. */
void noxd_route(noxd_conn_t *c, const char *url, bool authorized);
/* Starts c->op once the body is in; sets an answer on immediate failure. */
void noxd_dispatch(noxd_conn_t *c);
/* The status for a libnoxrunner error. */
unsigned noxd_status_for(int err);

/* json.c */
typedef struct noxd_exec_args {
  void *tree;        /* yajl_val; the strings below point into it */
  const char **argv; /* NULL-terminated */
  char **env;        /* NULL-terminated "K=V", or NULL */
  char *workdir;
  uint32_t timeout_seconds;
} noxd_exec_args_t;

typedef struct noxd_create_args {
  void *tree;
  uint32_t ttl_seconds;
  const char *image, *cpu_limit, *memory_limit, *storage_limit;
} noxd_create_args_t;

int noxd_parse_exec(const char *body, size_t len, noxd_exec_args_t *out,
                    char *err, size_t errlen);
void noxd_exec_args_free(noxd_exec_args_t *a);
int noxd_parse_create(const char *body, size_t len, noxd_create_args_t *out,
                      char *err, size_t errlen);
void noxd_create_args_free(noxd_create_args_t *a);

/*
 * Maps a sandbox path (workdir, dest, src) into /workspace with the
 * library's rule, nox_workspace_path(): relative paths are taken from
 * /workspace, "." and ".." are resolved lexically, and a result outside
 * /workspace is refused, with a message naming what. *out: nox_free() it.
 */
int noxd_sandbox_path(const char *what, const char *in, char **out, char *err,
                      size_t errlen);

/* JSON answers, malloc'd; invalid UTF-8 in strings becomes U+FFFD. */
int noxd_json_exec_result(const nox_exec_result_t *r, char **out, size_t *len);
int noxd_json_sandbox(const nox_sandbox_info_t *info, char **out, size_t *len);
/* {"error": msg}, and "code": code when code is not NULL. */
int noxd_json_error(const char *msg, const char *code, char **out,
                    size_t *len);

#endif /* NOXD_H */
