/*
 * libmicrohttpd in external-polling epoll mode on libuv: MHD's epoll fd
 * becomes readable whenever any of its sockets wants attention, so one
 * uv_poll_t on it and one uv_timer_t for MHD_get_timeout() are all it takes
 * (the shape of curl's multi-uv example, with one fd instead of one per
 * socket).
 */
#include "mhd_uv.h"

static void on_timer(uv_timer_t *t);

static void run(noxd_mhd_uv_t *g) {
  if (g->closed)
    return;
  MHD_run(g->mhd);
  if (g->after_run != NULL)
    g->after_run(g);
  if (g->closed)
    return;
  MHD_UNSIGNED_LONG_LONG t;
  if (MHD_get_timeout(g->mhd, &t) == MHD_YES)
    uv_timer_start(&g->timer, on_timer, t, 0);
  else
    uv_timer_stop(&g->timer);
}

static void on_timer(uv_timer_t *t) {
  run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  run(p->data);
}

int noxd_mhd_uv_start(noxd_mhd_uv_t *g, uv_loop_t *loop, struct MHD_Daemon *mhd,
                      noxd_mhd_uv_cb after_run, void *data) {
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
  if (info == NULL)
    return UV_EINVAL;
  g->mhd = mhd;
  g->after_run = after_run;
  g->data = data;
  g->closed = false;
  int rc = uv_poll_init(loop, &g->poll, info->epoll_fd);
  if (rc != 0)
    return rc;
  g->poll.data = g;
  uv_timer_init(loop, &g->timer);
  g->timer.data = g;
  uv_poll_start(&g->poll, UV_READABLE, on_poll);
  return 0;
}

void noxd_mhd_uv_kick(noxd_mhd_uv_t *g) {
  if (!g->closed)
    uv_timer_start(&g->timer, on_timer, 0, 0);
}

void noxd_mhd_uv_close(noxd_mhd_uv_t *g) {
  if (g->closed)
    return;
  g->closed = true;
  uv_poll_stop(&g->poll);
  uv_close((uv_handle_t *)&g->poll, NULL);
  uv_close((uv_handle_t *)&g->timer, NULL);
}
