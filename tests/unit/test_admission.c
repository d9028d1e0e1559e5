/*
 * Admission control (lib/admission.c): hand-made requests of a real client
 * are put through nox__admission_admit() as the dispatcher does, and
 * finished through nox__req_complete() and nox_req_cancel() as a backend
 * and a caller do, so the FIFO, the caps and the promotion of the next
 * waiter run the library's own code. The client's HTTP backend is never
 * contacted: no request here reaches it. Requests are internal ones, so
 * their completion runs the library's real dispatch and release.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "noxrunner/sandbox.h"
#include "test.h"

#define NREQ 8

typedef struct {
  int calls;
  int status;
  char msg[256];
  int order; /* the place of this callback among all of them, 1-based */
} outcome_t;

static int callbacks; /* every callback so far */

static void on_done(nox_req_t *req, int status) {
  outcome_t *o = nox_req_data(req);
  o->calls++;
  o->status = status;
  o->order = ++callbacks;
  snprintf(o->msg, sizeof(o->msg), "%s", nox_req_error(req)->message);
}

/* A NEW request as the starters make it: live, on no queue. */
static nox_req_t *mkreq(nox_client_t *c, nox__op_t op, outcome_t *o) {
  nox_req_t *req = calloc(1, sizeof(*req));
  ASSERT(req != NULL);
  memset(o, 0, sizeof(*o));
  req->client = c;
  req->op = op;
  req->state = NOX__REQ_NEW;
  req->internal = true;
  req->internal_cb = on_done;
  req->data = o;
  nox__list_init(&req->qnode);
  nox__list_init(&req->cnode);
  nox__list_push_back(&c->reqs, &req->node);
  c->nreqs++;
  return req;
}

/* The dispatcher's step for a NEW request: true when it may start. */
static bool admit(nox_req_t *req) {
  if (!nox__admission_admit(req))
    return false;
  req->state = NOX__REQ_RUNNING;
  return true;
}

/*
 * The next request a freed slot put back on start_q (NULL if none). The
 * dispatcher admits it again, which must not count it twice.
 */
static nox_req_t *promoted(nox_client_t *c) {
  nox__list_t *n = nox__list_pop_front(&c->start_q);
  if (n == NULL)
    return NULL;
  nox_req_t *req = nox__list_entry(n, nox_req_t, qnode);
  ASSERT_EQ(req->state, NOX__REQ_NEW);
  ASSERT(req->adm_admitted && !req->adm_waiting);
  ASSERT(admit(req));
  return req;
}

/* Runs the loop until want callbacks have run in all. */
static void settle(uv_loop_t *loop, int want) {
  while (callbacks < want)
    ASSERT(uv_run(loop, UV_RUN_ONCE) != 0 || callbacks >= want);
}

static nox_client_t *client(uv_loop_t *loop, uint32_t creating, uint32_t execs,
                            uint32_t transfers, uint32_t deadline_ms) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c;
  o.base_url = "http://127.0.0.1:9"; /* never contacted */
  o.max_creating = creating;
  o.max_execs = execs;
  o.max_transfers_inflight = transfers;
  o.queue_deadline_ms = deadline_ms;
  ASSERT_EQ(nox_client_new(&c, loop, &o), 0);
  return c;
}

static void stats(nox_client_t *c, nox_client_stats_t *s) {
  ASSERT_EQ(nox_client_stats(c, s), 0);
}

/* Requests over the cap wait in arrival order; each freed slot takes one. */
static void test_fifo(uv_loop_t *loop) {
  nox_client_t *c = client(loop, 0, 2, 0, 0);
  nox_req_t *r[NREQ];
  outcome_t o[NREQ];
  nox_client_stats_t s;
  int base = callbacks;

  for (int i = 0; i < NREQ; i++)
    r[i] = mkreq(c, NOX__OP_EXEC, &o[i]);
  ASSERT(admit(r[0]));
  ASSERT(admit(r[1]));
  for (int i = 2; i < NREQ; i++) {
    ASSERT(!admit(r[i]));
    ASSERT(r[i]->adm_waiting && !r[i]->adm_admitted);
    ASSERT_EQ(r[i]->state, NOX__REQ_NEW);
  }
  stats(c, &s);
  ASSERT_UEQ(s.execs, 2);
  ASSERT_UEQ(s.execs_queued, NREQ - 2);
  ASSERT_UEQ(s.creating + s.creating_queued + s.transfers + s.transfers_queued,
             0);
  ASSERT_UEQ(s.pending, NREQ);
  ASSERT(nox__list_empty(&c->start_q));

  /* The second one ends first: the head of the FIFO gets its slot. */
  nox__req_complete(r[1], 0);
  ASSERT(c->idle_active); /* the dispatcher will run to start it */
  nox__req_complete(r[0], 0);
  stats(c, &s);
  ASSERT_UEQ(s.execs, 2);
  ASSERT_UEQ(s.execs_queued, NREQ - 4);
  ASSERT(promoted(c) == r[2]);
  ASSERT(promoted(c) == r[3]);
  ASSERT(promoted(c) == NULL);
  stats(c, &s); /* admitted again by the dispatcher, not counted again */
  ASSERT_UEQ(s.execs, 2);

  /* A newcomer queues behind the waiters, whatever finishes meanwhile. */
  outcome_t late;
  nox_req_t *newcomer = mkreq(c, NOX__OP_EXEC, &late);
  ASSERT(!admit(newcomer));
  for (int i = 2; i < NREQ; i++) {
    nox__req_complete(r[i], 0);
    if (i + 2 < NREQ)
      ASSERT(promoted(c) == r[i + 2]);
  }
  ASSERT(promoted(c) == newcomer);
  ASSERT(promoted(c) == NULL);
  stats(c, &s);
  ASSERT_UEQ(s.execs, 1);
  ASSERT_UEQ(s.execs_queued, 0);
  nox__req_complete(newcomer, 0);

  settle(loop, base + NREQ + 1);
  /* Callbacks ran once each, in the order of the completions. */
  ASSERT_EQ(o[1].order, base + 1);
  ASSERT_EQ(o[0].order, base + 2);
  for (int i = 2; i < NREQ; i++)
    ASSERT_EQ(o[i].order, base + i + 1);
  ASSERT_EQ(late.order, base + NREQ + 1);
  for (int i = 0; i < NREQ; i++) {
    ASSERT_EQ(o[i].calls, 1);
    ASSERT_EQ(o[i].status, 0);
  }
  stats(c, &s);
  ASSERT_UEQ(s.execs, 0);
  ASSERT_UEQ(s.pending, 0);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/*
 * Each class has its own cap; uploads and downloads share one; health,
 * touch, delete and wait-ready are never held; a cap of 0 is no cap.
 */
static void test_classes(uv_loop_t *loop) {
  nox_client_t *c = client(loop, 1, 0, 1, 0);
  static const nox__op_t free_ops[] = {NOX__OP_HEALTH, NOX__OP_TOUCH,
                                       NOX__OP_DELETE, NOX__OP_WAIT};
  nox_req_t *cr[2], *up, *down, *ex[NREQ], *fr[4];
  outcome_t ocr[2], oup, odown, oex[NREQ], ofr[4];
  nox_client_stats_t s;
  int base = callbacks;

  cr[0] = mkreq(c, NOX__OP_CREATE, &ocr[0]);
  cr[1] = mkreq(c, NOX__OP_CREATE, &ocr[1]);
  up = mkreq(c, NOX__OP_UPLOAD, &oup);
  down = mkreq(c, NOX__OP_DOWNLOAD, &odown);
  ASSERT(admit(cr[0]));
  ASSERT(!admit(cr[1]));
  ASSERT(admit(up));
  ASSERT(!admit(down)); /* the upload holds the only transfer slot */
  for (int i = 0; i < NREQ; i++) {
    ex[i] = mkreq(c, NOX__OP_EXEC, &oex[i]);
    ASSERT(admit(ex[i])); /* max_execs 0: unlimited */
  }
  for (int i = 0; i < 4; i++) {
    fr[i] = mkreq(c, free_ops[i], &ofr[i]);
    ASSERT(admit(fr[i]));
    ASSERT_EQ(fr[i]->adm_class, NOX__ADM_NONE);
    ASSERT(!fr[i]->adm_admitted);
  }
  stats(c, &s);
  ASSERT_UEQ(s.creating, 1);
  ASSERT_UEQ(s.creating_queued, 1);
  ASSERT_UEQ(s.transfers, 1);
  ASSERT_UEQ(s.transfers_queued, 1);
  ASSERT_UEQ(s.execs, NREQ); /* counted, never held */
  ASSERT_UEQ(s.execs_queued, 0);

  /* Unheld requests and other classes free nothing of a class. */
  for (int i = 0; i < 4; i++)
    nox__req_complete(fr[i], 0);
  for (int i = 0; i < NREQ; i++)
    nox__req_complete(ex[i], 0);
  ASSERT(promoted(c) == NULL);
  nox__req_complete(up, 0); /* the download takes the transfer slot */
  ASSERT(promoted(c) == down);
  nox__req_complete(cr[0], NOX_EUNAVAIL); /* a failure frees its slot too */
  ASSERT(promoted(c) == cr[1]);
  ASSERT(promoted(c) == NULL);
  stats(c, &s);
  ASSERT_UEQ(s.creating, 1);
  ASSERT_UEQ(s.transfers, 1);
  ASSERT_UEQ(s.execs, 0);
  ASSERT_UEQ(s.creating_queued + s.transfers_queued, 0);
  nox__req_complete(down, 0);
  nox__req_complete(cr[1], 0);

  settle(loop, base + 4 + NREQ + 4);
  ASSERT_EQ(ocr[0].status, NOX_EUNAVAIL);
  ASSERT_EQ(ocr[0].calls + ocr[1].calls + oup.calls + odown.calls, 4);
  stats(c, &s);
  ASSERT_UEQ(s.creating + s.transfers + s.pending, 0);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/*
 * A canceled waiter leaves the FIFO at once, with NOX_ECANCELED, and is
 * skipped when a slot frees; a canceled request that was admitted but not
 * started yet gives its slot to the next waiter.
 */
static void test_cancel(uv_loop_t *loop) {
  nox_client_t *c = client(loop, 1, 0, 0, 0);
  nox_req_t *r[4];
  outcome_t o[4];
  nox_client_stats_t s;
  int base = callbacks;

  for (int i = 0; i < 4; i++)
    r[i] = mkreq(c, NOX__OP_CREATE, &o[i]);
  ASSERT(admit(r[0]));
  for (int i = 1; i < 4; i++)
    ASSERT(!admit(r[i]));
  ASSERT_EQ(nox_req_cancel(r[2]), 0);
  ASSERT_EQ(r[2]->state, NOX__REQ_DONE);
  ASSERT(!r[2]->adm_waiting);
  ASSERT_EQ(nox_req_cancel(r[2]), NOX_EALREADY);
  stats(c, &s);
  ASSERT_UEQ(s.creating, 1);
  ASSERT_UEQ(s.creating_queued, 2);

  nox__req_complete(r[0], 0);
  ASSERT(promoted(c) == r[1]);
  nox__req_complete(r[1], 0);
  /* r[2] is skipped: r[3] is next, back on start_q and not started yet. */
  ASSERT(!nox__list_empty(&c->start_q));
  ASSERT(nox__list_entry(c->start_q.next, nox_req_t, qnode) == r[3]);
  stats(c, &s);
  ASSERT_UEQ(s.creating, 1);
  ASSERT_UEQ(s.creating_queued, 0);
  ASSERT_EQ(nox_req_cancel(r[3]), 0);
  ASSERT(nox__list_empty(&c->start_q));
  stats(c, &s);
  ASSERT_UEQ(s.creating, 0);

  /* The freed slot is free indeed: a newcomer starts at once. */
  outcome_t on;
  nox_req_t *next = mkreq(c, NOX__OP_CREATE, &on);
  ASSERT(admit(next));
  nox__req_complete(next, 0);

  settle(loop, base + 5);
  ASSERT_EQ(o[0].status, 0);
  ASSERT_EQ(o[1].status, 0);
  ASSERT_EQ(o[2].status, NOX_ECANCELED);
  ASSERT_STR_EQ(o[2].msg, nox_strerror(NOX_ECANCELED));
  ASSERT_EQ(o[3].status, NOX_ECANCELED);
  ASSERT_EQ(on.status, 0);
  /* The canceled ones were reported first, from the same loop turn. */
  ASSERT_EQ(o[2].order, base + 1);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(o[i].calls, 1);
  stats(c, &s);
  ASSERT_UEQ(s.creating + s.creating_queued + s.pending, 0);
  ASSERT_UEQ(s.queue_timeouts, 0);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/*
 * queue_deadline_ms: a waiter that gets no slot in time ends with
 * NOX_ETIMEDOUT, saying so, and is counted; one promoted in time has its
 * deadline disarmed.
 */
static void test_deadline(uv_loop_t *loop) {
  nox_client_t *c = client(loop, 0, 1, 0, 20);
  nox_req_t *r[3];
  outcome_t o[3];
  nox_client_stats_t s;
  int base = callbacks;

  for (int i = 0; i < 3; i++)
    r[i] = mkreq(c, NOX__OP_EXEC, &o[i]);
  ASSERT(admit(r[0]));
  ASSERT(!admit(r[1]));
  ASSERT(r[1]->timer != NULL && uv_is_active((uv_handle_t *)r[1]->timer));
  settle(loop, base + 1);
  ASSERT_EQ(o[1].calls, 1);
  ASSERT_EQ(o[1].status, NOX_ETIMEDOUT);
  ASSERT_STR_EQ(o[1].msg, "not started: waited 20 ms in the admission queue");
  stats(c, &s);
  ASSERT_UEQ(s.queue_timeouts, 1);
  ASSERT_UEQ(s.execs, 1);
  ASSERT_UEQ(s.execs_queued, 0);

  ASSERT(!admit(r[2]));
  ASSERT(uv_is_active((uv_handle_t *)r[2]->timer));
  nox__req_complete(r[0], 0);
  ASSERT(promoted(c) == r[2]);
  ASSERT(!uv_is_active((uv_handle_t *)r[2]->timer));
  ASSERT(r[2]->timer_cb == NULL);
  nox__req_complete(r[2], 0);
  settle(loop, base + 3);
  ASSERT_EQ(o[0].status, 0);
  ASSERT_EQ(o[2].status, 0);
  ASSERT_EQ(o[2].calls, 1);
  stats(c, &s);
  ASSERT_UEQ(s.queue_timeouts, 1);
  ASSERT_UEQ(s.execs + s.pending, 0);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

int main(void) {
  uv_loop_t loop;
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  test_fifo(&loop);
  test_classes(&loop);
  test_cancel(&loop);
  test_deadline(&loop);
  ASSERT_LOOP_CLOSES(&loop);
  nox_library_cleanup();
  return 0;
}
