/* The intrusive doubly linked list: a circular list through a head that is its own
 * sentinel, so insertion and removal never branch on the ends. Embed a struct px_list in
 * the element and get the element back with px_list_entry. Header only; not thread-safe
 * (a list belongs to one thread, like everything it links). */
#ifndef TWOFOLD_PX_LIST_H
#define TWOFOLD_PX_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct px_list {
    struct px_list *prev, *next;
};

/* An empty list (a head), or an unlinked element. */
static inline void px_list_init(struct px_list *l)
{
    l->prev = l->next = l;
}

static inline bool px_list_empty(const struct px_list *head)
{
    return head->next == head;
}

/* Links n first in head's list. */
static inline void px_list_push_front(struct px_list *head, struct px_list *n)
{
    n->prev = head;
    n->next = head->next;
    head->next->prev = n;
    head->next = n;
}

/* Unlinks n from its list and leaves it unlinked (removing it again is a no-op). */
static inline void px_list_remove(struct px_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    px_list_init(n);
}

/* The element holding link p: px_list_entry(p, struct px_conn, link). */
#define px_list_entry(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* Walks head's list front to back; the current element may be removed (or freed) in the
 * body, no other. */
#define px_list_foreach_safe(pos, tmp, head)                                                       \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
