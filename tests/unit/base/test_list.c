/* The one intrusive list (proxy/base/px_list.h). */
#include "px_list.h"
#include "tt.h"

struct item {
    int v;
    struct px_list link;
};

static int order(struct px_list *head, int *out, int max)
{
    int n = 0;
    struct px_list *l, *next;
    px_list_foreach_safe(l, next, head)
    {
        if (n < max)
            out[n] = px_list_entry(l, struct item, link)->v;
        n++;
    }
    return n;
}

int main(void)
{
    struct px_list head;
    struct item it[3] = {{.v = 0}, {.v = 1}, {.v = 2}};
    int got[3];
    px_list_init(&head);
    CHECK(px_list_empty(&head));
    CHECK_INT(order(&head, got, 3), 0);
    for (int i = 0; i < 3; i++)
        px_list_push_front(&head, &it[i].link);
    CHECK(!px_list_empty(&head));
    CHECK_INT(order(&head, got, 3), 3);
    CHECK(got[0] == 2 && got[1] == 1 && got[2] == 0); /* newest first */
    px_list_remove(&it[1].link);
    px_list_remove(&it[1].link); /* unlinked: no-op */
    CHECK_INT(order(&head, got, 3), 2);
    CHECK(got[0] == 2 && got[1] == 0);
    /* removing the current element while walking */
    struct px_list *l, *next;
    px_list_foreach_safe(l, next, &head) px_list_remove(l);
    CHECK(px_list_empty(&head));
    return tt_done();
}
