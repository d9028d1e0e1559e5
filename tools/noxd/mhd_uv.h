/*
 * libmicrohttpd on a libuv loop: a daemon started with MHD_USE_EPOLL (and no
 * thread of its own) is run from one uv_poll_t on its epoll fd and one
 * uv_timer_t for its timeouts, so that it shares the loop's one thread with
 * everything else. Knows nothing of what the daemon serves.
 */
#ifndef NOXD_MHD_UV_H
#define NOXD_MHD_UV_H

#include <stdbool.h>

#include <microhttpd.h>
#include <uv.h>

typedef struct noxd_mhd_uv noxd_mhd_uv_t;

/* Runs after every MHD_run(), outside MHD's callbacks; may close g. */
typedef void (*noxd_mhd_uv_cb)(noxd_mhd_uv_t *g);

struct noxd_mhd_uv {
  struct MHD_Daemon *mhd; /* borrowed: the caller stops it */
  uv_poll_t poll;         /* MHD's epoll fd */
  uv_timer_t timer;       /* MHD's timeout, and "run MHD soon" */
  noxd_mhd_uv_cb after_run;
  void *data; /* the caller's */
  bool closed;
};

/*
 * Drives mhd (started with MHD_USE_EPOLL) from loop; noxd_mhd_uv_kick() runs
 * it the first time. after_run may be NULL. Returns 0 or a libuv error code;
 * on an error nothing is left to close.
 */
int noxd_mhd_uv_start(noxd_mhd_uv_t *g, uv_loop_t *loop, struct MHD_Daemon *mhd,
                      noxd_mhd_uv_cb after_run, void *data);

/* MHD runs on the next loop turn, once for every connection resumed by then. */
void noxd_mhd_uv_kick(noxd_mhd_uv_t *g);

/*
 * Stops watching and closes both handles (g's memory must live until the
 * loop has run their close callbacks, which free nothing). The daemon is
 * left to the caller, to stop after this. Idempotent.
 */
void noxd_mhd_uv_close(noxd_mhd_uv_t *g);

#endif /* NOXD_MHD_UV_H */
