/*
 * An intrusive circular doubly-linked list, as libuv's queue. A node that is
 * on no list points to itself, so removal is always safe.
 */
#ifndef NOX_LIST_H
#define NOX_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nox__list {
  struct nox__list *next;
  struct nox__list *prev;
} nox__list_t;

#define nox__list_entry(ptr, type, field)                                      \
  ((type *)((char *)(ptr)-offsetof(type, field)))

static inline void nox__list_init(nox__list_t *l) {
  l->next = l;
  l->prev = l;
}

static inline bool nox__list_empty(const nox__list_t *l) {
  return l->next == l;
}

static inline void nox__list_remove(nox__list_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n;
  n->prev = n;
}

static inline void nox__list_push_back(nox__list_t *l, nox__list_t *n) {
  n->prev = l->prev;
  n->next = l;
  l->prev->next = n;
  l->prev = n;
}

/* Removes and returns the first node, or NULL if the list is empty. */
static inline nox__list_t *nox__list_pop_front(nox__list_t *l) {
  nox__list_t *n = l->next;
  if (n == l)
    return NULL;
  nox__list_remove(n);
  return n;
}

/* Moves every node of from to the end of to; from ends empty. */
static inline void nox__list_move(nox__list_t *from, nox__list_t *to) {
  if (nox__list_empty(from))
    return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  nox__list_init(from);
}

#endif /* NOX_LIST_H */
