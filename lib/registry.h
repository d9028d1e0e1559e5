/*
 * Sandbox handles and the registry that holds them (sandbox.c, registry.c).
 * Private to those two files and fanout.c.
 */
#ifndef NOX_REGISTRY_H
#define NOX_REGISTRY_H

#include "internal.h"
#include "noxrunner/sandbox.h"

typedef enum {
  NOX__SB_CREATING, /* create in flight */
  NOX__SB_PROBING,  /* wait-ready: probe in flight or pausing */
  NOX__SB_READY,
  NOX__SB_FAILED /* creation or readiness failed */
} nox__sb_state_t;

typedef enum {
  NOX__SB_TIMER_NONE,
  NOX__SB_TIMER_PROBE,
  NOX__SB_TIMER_TOUCH,
  NOX__SB_TIMER_RELEASE,
  NOX__SB_TIMER_DELETE
} nox__sb_timer_t;

struct nox__batch;

struct nox_sandbox_s {
  nox_client_t *client;
  nox__list_t node;  /* registry->handles */
  nox__list_t bnode; /* a batch's todo list */
  struct nox__batch *batch;
  char *id;
  void *data;
  /* The timer plus every user request observed; freed at zero. */
  unsigned refs;

  nox__sb_state_t state;
  bool created; /* a create was sent or may have been: delete it */
  bool ready_reported;
  bool lost;
  bool releasing;
  bool finished;
  nox_sandbox_cb ready_cb;
  nox_sandbox_lost_cb on_lost;
  nox_sandbox_release_cb release_cb;
  void *release_data;

  uint32_t ttl_seconds;
  int64_t expires_at;
  bool lease, keep;
  uint32_t touch_interval_ms;
  uint64_t last_touch_ok; /* uv_now() of the create or last good touch */
  unsigned touch_failures;
  uint32_t ready_timeout_ms, ready_backoff_ms, backoff_ms;
  uint64_t ready_deadline;
  unsigned delete_attempts;

  nox_req_t *pending; /* the handle's own create, probe, touch or delete */
  uv_timer_t timer;
  nox__sb_timer_t timer_what;
};

struct nox__registry {
  nox__list_t handles;
  size_t count;
  nox_registry_options_t opts; /* defaults applied */
  char *journal_path;
  int journal_fd;     /* -1: none */
  bool used;          /* a handle was made: too late to configure */
  bool close_waiting; /* the client's close waits for count == 0 */
  unsigned batches;   /* batches running */
};

/* The client's registry, made on first use; NULL on ENOMEM. */
struct nox__registry *nox__registry_get(nox_client_t *c);

/*
 * Appends "C id" or "D id" to the journal, if any, the id's bytes other
 * than [A-Za-z0-9._~-] as %XX. 0, NOX_EIO, or NOX_EINVAL for an id longer
 * than NOX__MAX_SESSION_ID (nothing written).
 */
int nox__journal_write(struct nox__registry *r, char kind, const char *id);

/*
 * Parses one journal line, its newline removed, in place: 0 with *kind 'C'
 * or 'D' and *id the decoded id (inside line); NOX_EINVAL for a line that
 * nox__journal_write() cannot have written (torn by a crash, garbage, an
 * unknown kind, a byte it escapes, a bad or %00 escape), NOX_ETOOBIG for an
 * id over NOX__MAX_SESSION_ID bytes. A reap skips such lines.
 */
int nox__journal_parse(char *line, char *kind, const char **id);

/* A bare handle in the registry (state READY, nothing in flight). */
nox_sandbox_t *nox__sandbox_alloc(nox_client_t *c, const char *id);

/* Drops a bare handle on which nothing was started, without a callback. */
void nox__sandbox_discard(nox_sandbox_t *sb);

/* Starts releasing a handle (release-all, close, reap). */
void nox__sandbox_release_start(nox_sandbox_t *sb);

/* Called by a handle when its release ended, before its callback. */
void nox__registry_handle_done(nox_sandbox_t *sb, int status);

#endif /* NOX_REGISTRY_H */
