/*
 * Streaming transfers: the client-owned worker pool and the bounded pipe
 * between the loop thread and one worker.
 *
 * A stream carries one transfer's archive bytes. Its producer and consumer
 * are the loop (curl callbacks) on one side and a pool worker (libarchive
 * packing or unpacking) on the other. The worker side blocks on a condition
 * variable; the loop side never blocks: it gets "no room"/"nothing yet",
 * pauses curl, and is woken through the stream's uv_async_t when the worker
 * has moved. One transfer runs as one job, so a transfer never needs two
 * workers and a worker never waits for another job.
 *
 * Lifetime: the stream is shared by the loop side (the request) and the job.
 * nox__stream_release() is the loop's last word (it aborts the pipe and
 * closes the async handle); the memory goes when both sides are done, so a
 * worker still finishing after a cancel never touches freed memory.
 */
#ifndef NOX_TAR_STREAM_H
#define NOX_TAR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "internal.h"

typedef struct nox__pool nox__pool_t;
typedef struct nox__stream nox__stream_t;

typedef enum {
  NOX__STREAM_PACK_FILES, /* worker writes a tar.gz of s->files */
  NOX__STREAM_PACK_DIR,   /* worker writes a tar.gz of s->dir */
  NOX__STREAM_EXTRACT,    /* worker unpacks into s->dir safely */
  NOX__STREAM_ENTRIES     /* worker unpacks into entry events */
} nox__stream_kind_t;

/* An entry event for the loop (NOX__STREAM_ENTRIES). */
typedef struct nox__stream_ev {
  struct nox__stream_ev *next;
  nox_entry_t entry;
  bool header; /* the header (data NULL) or a chunk of data */
  size_t len;
  char *data; /* chunk bytes; path and link strings follow them */
} nox__stream_ev_t;

/* Called on the loop thread when the worker has moved (async wake-up). */
typedef void (*nox__stream_wake_cb)(nox__stream_t *s);

struct nox__stream {
  /* Set at creation, read-only after the job starts. */
  nox__stream_kind_t kind;
  nox__pool_t *pool;
  nox_file_t *files; /* owned */
  size_t nfiles;
  char *dir;                 /* owned: the directory to pack or to extract to */
  char **include, **exclude; /* owned */
  nox_extract_limits_t limits;
  /*
   * Unpacking jobs of the local backend have no wire: the worker first packs
   * pack_src (a path), or files when pack_files is set, into an unlinked
   * temporary file, then unpacks from that file instead of the pipe.
   */
  char *pack_src;
  bool pack_files;
  bool in_place; /* extract straight into dir (an upload's destination) */
  nox__stream_wake_cb wake;
  void *owner; /* loop side: the transfer, NULL once released */

  uv_async_t async;
  uv_mutex_t mu;
  uv_cond_t cv;

  /* Under mu. */
  char *buf;  /* archive bytes in flight */
  size_t cap; /* soft bound of buffered bytes */
  size_t bufcap, off, used;
  bool eof;          /* producer finished (loop: the body ended well) */
  bool aborted;      /* loop gave up: the worker stops and cleans up */
  bool loop_waiting; /* loop paused on this stream: wake it on progress */
  bool worker_done;
  int status; /* the job's outcome once worker_done */
  char msg[256];
  uint64_t entries, refused;
  uint64_t stripped; /* entries written without their setuid/setgid bits */
  char first_refused[256];
  nox__stream_ev_t *ev_head, *ev_tail;
  size_t ev_bytes;
  bool loop_gone, async_closed;
  /* Packed bytes handed to the unpacker (the expansion ratio's base). */
  uint64_t consumed;
  /* The size of the archive packed into the temporary file (pack_src). */
  uint64_t packed;
  /* File content bytes packed so far (nox_progress_t.data_bytes). */
  uint64_t data_bytes;
};

/* ---- pool ---------------------------------------------------------------- */

/* A pool of n workers, started on the first job. NULL on ENOMEM. */
nox__pool_t *nox__pool_new(unsigned n);
/* Runs the stream's job on a worker (takes the job's reference). */
int nox__pool_submit(nox__pool_t *p, nox__stream_t *s);
/* Waits for every job to end (their streams must be aborted) and frees. */
void nox__pool_free(nox__pool_t *p);

/* ---- stream: loop side --------------------------------------------------- */

/*
 * Makes a stream of cap bytes on loop, whose worker wake-ups call
 * wake(s). Returns NULL on ENOMEM.
 */
nox__stream_t *nox__stream_new(uv_loop_t *loop, nox__stream_kind_t kind,
                               size_t cap, nox__stream_wake_cb wake,
                               void *owner);
/* Starts the stream's job on its pool. Returns 0 or a NOX_E* code. */
int nox__stream_start(nox__stream_t *s, nox__pool_t *pool);
/*
 * Download side: appends len bytes for the worker. Returns len when taken,
 * 0 when there is no room (the loop is woken when there is), or
 * (size_t)-1 when the worker has ended (s->status says why).
 */
size_t nox__stream_push(nox__stream_t *s, const void *buf, size_t len);
/*
 * Upload side: takes up to cap bytes. Returns the count (0 at the end of a
 * successful archive), or sets *again (nothing yet; the loop is woken) or
 * returns (size_t)-1 when the worker failed.
 */
size_t nox__stream_pull(nox__stream_t *s, void *buf, size_t cap, bool *again);
/* The body ended well: the worker may finish (download side). */
void nox__stream_finish(nox__stream_t *s);
/* Stops the worker (cancel, failure); idempotent. */
void nox__stream_abort(nox__stream_t *s);
/* Takes the queued entry events (oldest first); the caller frees them. */
nox__stream_ev_t *nox__stream_take_events(nox__stream_t *s);
/*
 * Gives the queued entry events to req->on_entry in order and frees them;
 * stops calling once the request is over (done, canceled, client closing)
 * or a callback returned non-zero. Returns NOX_EUSER for the latter, else 0.
 */
int nox__stream_deliver_events(nox__stream_t *s, nox_req_t *req);
/*
 * Reports progress to req->progress_cb (if any): bytes, total (0: unknown)
 * and the entries s has counted (s may be NULL). At most once every 100 ms
 * unless final; *last_ms keeps the uv_now() of the last report.
 */
void nox__stream_progress(nox__stream_t *s, nox_req_t *req, uint64_t *last_ms,
                          uint64_t bytes, uint64_t total, bool final);
/* Copies counters and the outcome; true when the worker has ended. */
bool nox__stream_snapshot(nox__stream_t *s, nox_transfer_report_t *rep,
                          int *status, char *msg, size_t msglen);
/*
 * The size of the archive the worker packed for itself (pack_src or
 * pack_files), once packed; 0 before, and for streams fed by a wire.
 */
uint64_t nox__stream_packed(nox__stream_t *s);
/* The loop side lets go: aborts, closes the async handle. */
void nox__stream_release(nox__stream_t *s);

/* ---- stream: worker side (lib/tar/unpack.c, lib/tar/pack.c) -------------- */

/* Runs the stream's job (called by a pool worker). Returns a NOX_E* code. */
int nox__stream_run(nox__stream_t *s, char *msg, size_t msglen);
/* Blocking write of archive bytes; NOX_ECANCELED once aborted. */
int nox__stream_write(void *s, const void *buf, size_t len);
/* Blocking read of up to cap bytes; 0 at the end, -1 when aborted. */
ptrdiff_t nox__stream_read(nox__stream_t *s, void *buf, size_t cap);
/* Queues an entry event, waiting while the queue is full. */
int nox__stream_post(nox__stream_t *s, const nox_entry_t *e, bool header,
                     const void *data, size_t len);
/* Counts an entry; a refused one is remembered by name. */
void nox__stream_count(nox__stream_t *s, const char *refused_name);
/*
 * Counts an entry written without the setuid/setgid bits it asked for (in
 * place of nox__stream_count(s, NULL): one lock for both counts).
 */
void nox__stream_count_stripped(nox__stream_t *s);
/* Worker: n more bytes of file content packed. */
void nox__stream_count_data(nox__stream_t *s, size_t n);

#endif /* NOX_TAR_STREAM_H */
