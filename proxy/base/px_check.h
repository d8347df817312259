/* Invariant checks. Every object reached through an untyped pointer (a libuv handle's data,
 * a callback's void *arg, a message payload) carries a magic number: its _init/_new sets it,
 * its _free/_close clears it, and every cast back from void * goes through PX_CAST, which
 * asserts the pointer is non-NULL and the magic is the type's. State transitions are asserted
 * with PX_TRANSITION so an object never moves between states its enum does not allow.
 *
 * The checks are assert()s: on in Debug and sanitizer builds (the build drops NDEBUG there),
 * compiled out of release builds, where they cost nothing. Header only. */
#ifndef TWOFOLD_PX_CHECK_H
#define TWOFOLD_PX_CHECK_H

#include <assert.h>

/* The field every checked object embeds (first, by convention). */
#define PX_MAGIC_FIELD unsigned magic

/* to = from, asserting from is a live object of the type whose magic is MAGIC. */
#define PX_CAST(to, from, MAGIC)                                                                   \
    do {                                                                                           \
        (to) = (from);                                                                             \
        assert((to) != NULL && (to)->magic == (MAGIC));                                            \
    } while (0)

/* Asserts obj is a live object of the type whose magic is MAGIC. */
#define PX_CHECK(obj, MAGIC) assert((obj) != NULL && (obj)->magic == (MAGIC))

/* Moves obj->field from state `from` to state `to`, asserting it was in `from`. */
#define PX_TRANSITION(obj, field, from, to)                                                        \
    do {                                                                                           \
        assert((obj)->field == (from));                                                            \
        (obj)->field = (to);                                                                       \
    } while (0)

#endif
