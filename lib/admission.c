/*
 * Admission control: a cap per request class (creates, execs, transfers) on
 * how many are handed to the backend at once. A request over its cap stays
 * NEW and waits on its class's FIFO; a slot freed by a completion goes to
 * the head of that FIFO, so a burst becomes a steady stream in arrival
 * order. Waiting costs no socket, process or curl handle.
 */
#include "internal.h"
#include "noxrunner/sandbox.h"

static int class_of(const nox_req_t *req) {
  switch (req->op) {
  case NOX__OP_CREATE:
    return NOX__ADM_CREATE;
  case NOX__OP_EXEC:
    return NOX__ADM_EXEC;
  case NOX__OP_UPLOAD:
  case NOX__OP_DOWNLOAD:
    return NOX__ADM_TRANSFER;
  default:
    return NOX__ADM_NONE;
  }
}

void nox__admission_init(nox_client_t *c) {
  c->adm[NOX__ADM_CREATE - 1].limit = c->opts.max_creating;
  c->adm[NOX__ADM_EXEC - 1].limit = c->opts.max_execs;
  c->adm[NOX__ADM_TRANSFER - 1].limit = c->opts.max_transfers_inflight;
  for (int i = 0; i < NOX__ADM_NCLASSES; i++)
    nox__list_init(&c->adm[i].fifo);
}

static void on_queue_deadline(nox_req_t *req) {
  req->client->adm_timeouts++;
  nox__req_set_message(req, "not started: waited %u ms in the admission queue",
                       (unsigned)req->client->opts.queue_deadline_ms);
  nox__req_complete(req, NOX_ETIMEDOUT);
}

bool nox__admission_admit(nox_req_t *req) {
  nox_client_t *c = req->client;
  if (req->adm_admitted)
    return true; /* promoted from its FIFO, slot already taken */
  req->adm_class = (uint8_t)class_of(req);
  if (req->adm_class == NOX__ADM_NONE)
    return true;
  nox__adm_class_t *k = &c->adm[req->adm_class - 1];
  /* A newcomer never overtakes a waiter, even when a slot looks free. */
  if (k->limit == 0 || (k->inflight < k->limit && k->queued == 0)) {
    k->inflight++;
    req->adm_admitted = true;
    return true;
  }
  req->adm_waiting = true;
  k->queued++;
  nox__list_push_back(&k->fifo, &req->qnode);
  if (c->opts.queue_deadline_ms > 0 &&
      nox__req_start_timer(req, c->opts.queue_deadline_ms, on_queue_deadline) !=
          0)
    nox__req_complete(req, NOX_ENOMEM);
  return false;
}

/* Hands free slots of class k to the heads of its FIFO. */
static void promote(nox_client_t *c, nox__adm_class_t *k) {
  nox__list_t *n;
  while (k->inflight < k->limit && (n = nox__list_pop_front(&k->fifo))) {
    nox_req_t *req = nox__list_entry(n, nox_req_t, qnode);
    k->queued--;
    k->inflight++;
    req->adm_waiting = false;
    req->adm_admitted = true;
    nox__req_stop_timer(req);
    nox__list_push_back(&c->start_q, &req->qnode);
    nox__client_wake(c);
  }
}

void nox__admission_done(nox_req_t *req) {
  nox_client_t *c = req->client;
  if (req->adm_class == NOX__ADM_NONE)
    return;
  nox__adm_class_t *k = &c->adm[req->adm_class - 1];
  if (req->adm_waiting) {
    /* Canceled, timed out or closed while queued; the caller unlinks it. */
    req->adm_waiting = false;
    k->queued--;
  } else if (req->adm_admitted) {
    req->adm_admitted = false;
    k->inflight--;
    promote(c, k);
  }
}

int nox_client_stats(const nox_client_t *c, nox_client_stats_t *out) {
  if (c == NULL || out == NULL)
    return NOX_EINVAL;
  out->creating = c->adm[NOX__ADM_CREATE - 1].inflight;
  out->creating_queued = c->adm[NOX__ADM_CREATE - 1].queued;
  out->execs = c->adm[NOX__ADM_EXEC - 1].inflight;
  out->execs_queued = c->adm[NOX__ADM_EXEC - 1].queued;
  out->transfers = c->adm[NOX__ADM_TRANSFER - 1].inflight;
  out->transfers_queued = c->adm[NOX__ADM_TRANSFER - 1].queued;
  out->queue_timeouts = c->adm_timeouts;
  out->pending = c->nreqs;
  out->sandboxes = nox__registry_count(c);
  return 0;
}
