/*
 * The server's life: start (the listen address, the library client, the
 * daemon on the loop), the timers and signals, and the shutdown that lets
 * the answers out before everything closes. The whole server is one thread
 * on one loop; conn.c handles the requests, mhd_uv.c runs MHD on the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "noxd.h"

/* ------------------------------------------------------------------------ */
/* Shutdown                                                                 */
/* ------------------------------------------------------------------------ */

static void finish(noxd_server_t *s) {
  s->finished = true;
  noxd_mhd_uv_close(&s->front);
  uv_close((uv_handle_t *)&s->drain, NULL);
  uv_close((uv_handle_t *)&s->sweep, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  uv_close((uv_handle_t *)&s->sigint, NULL);
  /* Every connection is resumed: each nox request has completed. */
  MHD_stop_daemon(s->mhd);
  s->mhd = NULL;
  if (s->listen_fd != MHD_INVALID_SOCKET)
    close(s->listen_fd);
  s->listen_fd = MHD_INVALID_SOCKET;
  free(s->token);
  s->token = NULL;
  fprintf(stderr, "noxd: stopped\n");
}

/* Called only outside MHD's callbacks. */
static void maybe_finish(noxd_server_t *s) {
  if (s->finished || !s->stopping || s->client != NULL || s->suspended > 0)
    return;
  if (s->active == 0 || s->drained)
    finish(s);
}

static void after_run(noxd_mhd_uv_t *g) {
  noxd_server_t *s = g->data;
  s->quiet_aborts = 0; /* MHD logs those drops, if at all, inside the run */
  if (s->stopping)
    maybe_finish(s);
}

static void on_drain_deadline(uv_timer_t *t) {
  noxd_server_t *s = t->data;
  if (s->active > 0)
    fprintf(stderr, "noxd: dropping %u unfinished request(s)\n", s->active);
  s->drained = true;
  maybe_finish(s);
}

static void on_client_closed(void *data) {
  noxd_server_t *s = data;
  s->client = NULL;
  /* The completions of the closed requests resumed their connections. */
  noxd_mhd_uv_kick(&s->front);
}

void noxd_server_stop(noxd_server_t *s) {
  if (s->stopping || s->finished)
    return;
  s->stopping = true;
  /* No new connections; those open get their answers, then "close". */
  s->listen_fd = MHD_quiesce_daemon(s->mhd);
  uv_timer_start(&s->drain, on_drain_deadline, NOXD_DRAIN_MS, 0);
  if (s->client != NULL)
    nox_client_close(s->client, on_client_closed, s);
  noxd_mhd_uv_kick(&s->front);
}

static void on_signal(uv_signal_t *h, int signum) {
  noxd_server_t *s = h->data;
  if (!s->stopping)
    fprintf(stderr, "noxd: %s, shutting down\n",
            signum == SIGTERM ? "SIGTERM" : "SIGINT");
  noxd_server_stop(s);
}

/* ------------------------------------------------------------------------ */
/* Start                                                                    */
/* ------------------------------------------------------------------------ */

static int parse_listen(const char *spec, struct sockaddr_storage *ss,
                        noxd_server_t *s) {
  const char *colon = strrchr(spec, ':');
  if (colon == NULL)
    return -1;
  size_t hl = (size_t)(colon - spec);
  char *end;
  errno = 0;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535)
    return -1;
  char host[64];
  if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
    if (hl - 2 >= sizeof(host))
      return -1;
    memcpy(host, spec + 1, hl - 2);
    host[hl - 2] = '\0';
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0)
      return -1;
    snprintf(s->host, sizeof(s->host), "[%s]", host);
    return 6;
  }
  if (hl == 0 || hl >= sizeof(host))
    return -1;
  memcpy(host, spec, hl);
  host[hl] = '\0';
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0)
    return -1;
  snprintf(s->host, sizeof(s->host), "%s", host);
  return 4;
}

static int make_client(noxd_server_t *s, const noxd_config_t *cfg) {
  size_t n = strlen(cfg->root);
  char *url = malloc(n + sizeof("local://"));
  if (url == NULL)
    return NOX_ENOMEM;
  memcpy(url, "local://", 8);
  memcpy(url + 8, cfg->root, n + 1);
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  opts.base_url = url;
  opts.isolation = cfg->isolation;
  opts.local_max_sandboxes = cfg->max_sandboxes;
  opts.local_max_pids = cfg->max_pids;
  opts.max_output_bytes = cfg->max_output;
  opts.local_auto_create = cfg->auto_create;
  int rc = nox_client_new(&s->client, s->loop, &opts);
  free(url);
  return rc;
}

/* The settings of cfg the server keeps, and its copy of the token. */
static int configure(noxd_server_t *s, uv_loop_t *loop,
                     const noxd_config_t *cfg) {
  s->loop = loop;
  s->listen_fd = MHD_INVALID_SOCKET;
  s->max_body = cfg->max_body;
  s->max_execs = cfg->max_execs;
  s->header_timeout_s = cfg->header_timeout_s;
  s->body_timeout_s = cfg->body_timeout_s;
  s->min_upload_rate = cfg->min_upload_rate;
  if (cfg->token != NULL) {
    s->token = strdup(cfg->token);
    if (s->token == NULL)
      return -1;
    s->token_len = strlen(s->token);
  }
  return 0;
}

/* The library client serving the requests, with a message when it fails. */
static int open_client(noxd_server_t *s, const noxd_config_t *cfg) {
  int rc = make_client(s, cfg);
  if (rc == NOX_EISOLATION)
    fprintf(stderr, "noxd: --isolation bwrap: bubblewrap is missing or cannot "
                    "run here (install it and allow user namespaces, or use "
                    "--isolation auto or none)\n");
  else if (rc != 0)
    fprintf(stderr, "noxd: cannot open the sandbox root \"%s\": %s\n",
            cfg->root, nox_strerror(rc));
  return rc;
}

/* The daemon listening, on the loop. */
static int open_daemon(noxd_server_t *s, const noxd_config_t *cfg,
                       const struct sockaddr_storage *ss, int family) {
  s->mhd = noxd_daemon_start(s, family == 6, (const struct sockaddr *)ss);
  if (s->mhd == NULL) {
    fprintf(stderr, "noxd: cannot listen on %s: %s\n", cfg->listen,
            strerror(errno));
    return -1;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : 0;
  int rc = noxd_mhd_uv_start(&s->front, s->loop, s->mhd, after_run, s);
  if (rc != 0) {
    fprintf(stderr, "noxd: cannot watch MHD: %s\n", uv_strerror(rc));
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    return -1;
  }
  return 0;
}

static void on_sweep(uv_timer_t *t) {
  noxd_sweep(t->data);
}

/* The server's own timers and signal handlers. */
static void start_handles(noxd_server_t *s) {
  uv_timer_init(s->loop, &s->drain);
  s->drain.data = s;
  uv_timer_init(s->loop, &s->sweep);
  s->sweep.data = s;
  uv_timer_start(&s->sweep, on_sweep, 250, 250);
  uv_signal_init(s->loop, &s->sigterm);
  s->sigterm.data = s;
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  uv_signal_init(s->loop, &s->sigint);
  s->sigint.data = s;
  uv_signal_start(&s->sigint, on_signal, SIGINT);
}

int noxd_server_start(noxd_server_t *s, uv_loop_t *loop,
                      const noxd_config_t *cfg) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memset(s, 0, sizeof(*s));
  int family = parse_listen(cfg->listen, &ss, s);
  if (family < 0) {
    fprintf(stderr, "noxd: bad --listen address \"%s\" (HOST:PORT)\n",
            cfg->listen);
    return -1;
  }
  if (configure(s, loop, cfg) != 0 || open_client(s, cfg) != 0) {
    free(s->token);
    s->token = NULL;
    return -1;
  }
  if (open_daemon(s, cfg, &ss, family) != 0) {
    nox_client_close(s->client, NULL, NULL);
    s->client = NULL;
    free(s->token);
    s->token = NULL;
    return -1;
  }
  start_handles(s);
  noxd_mhd_uv_kick(&s->front);
  return 0;
}
