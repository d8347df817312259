/* Session ticket key ring; see px_tickets.h.
 *
 * Publication scheme (a small SRCU): the current key set is an immutable block reached
 * through an atomic pointer. A reader announces itself in readers[epoch & 1], re-checks
 * that the epoch did not move meanwhile (else retries), loads the pointer, copies the one
 * key it needs and leaves. A writer (serialised by wlock) swaps the pointer, advances the
 * epoch so that new readers count in the other slot, then waits until the old slot drains:
 * every reader that could have loaded the old pointer counted itself in that slot before
 * the epoch moved (seq_cst order), so after the drain nobody holds the old set and it is
 * freed. Read sections are a memcpy long, so the wait is short; writers are rare.
 */
#include "px_tickets.h"

#include <assert.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tkey {
    unsigned char name[16];
    unsigned char hmac[32];
    unsigned char aes[32];
};

struct keyset {
    size_t n;
    struct tkey keys[]; /* keys[0] encrypts */
};

struct px_tickets {
    _Atomic(struct keyset *) cur;
    atomic_uint epoch;
    atomic_uint readers[2];
    pthread_mutex_t wlock; /* serialises writers */
    char *key_file;        /* NULL: random mode */
    unsigned rotate_seconds;
    struct timespec last_rotate;
    pthread_t control; /* the thread that made the ring: the only one that writes or frees */
};

/* The ring is written (rotate, reload, tick) and freed on the control thread only. */
#define ON_CONTROL_THREAD(t) assert(pthread_equal(pthread_self(), (t)->control))

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_index_init(void)
{
    ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static struct keyset *keyset_alloc(size_t n)
{
    struct keyset *ks = calloc(1, sizeof(*ks) + n * sizeof(struct tkey));
    if (ks)
        ks->n = n;
    return ks;
}

static void keyset_free(struct keyset *ks)
{
    if (!ks)
        return;
    OPENSSL_cleanse(ks->keys, ks->n * sizeof(struct tkey));
    free(ks);
}

static int key_random(struct tkey *k)
{
    return RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -EIO;
}

/* Publishes ks and frees the previous set after its readers have left. Caller holds
 * wlock. */
static void publish(struct px_tickets *t, struct keyset *ks)
{
    assert(pthread_mutex_trylock(&t->wlock) == EBUSY); /* held (by us: writers are serial) */
    assert(ks != NULL && ks->n >= 1 && ks != atomic_load(&t->cur));
    struct keyset *old = atomic_exchange(&t->cur, ks);
    unsigned e = atomic_fetch_add(&t->epoch, 1);
    while (atomic_load(&t->readers[e & 1]) != 0)
        sched_yield();
    keyset_free(old);
}

/* Enters a read section; returns the slot to pass to read_leave(). */
static unsigned read_enter(struct px_tickets *t)
{
    for (;;) {
        unsigned slot = atomic_load(&t->epoch) & 1;
        atomic_fetch_add(&t->readers[slot], 1);
        if ((atomic_load(&t->epoch) & 1) == slot)
            return slot;
        atomic_fetch_sub(&t->readers[slot], 1);
    }
}

static void read_leave(struct px_tickets *t, unsigned slot)
{
    unsigned was = atomic_fetch_sub(&t->readers[slot], 1);
    assert(was > 0); /* every leave pairs with an enter */
    (void)was;
}

/* Copies the encryption key (name NULL) or the key called name into out. Returns 1 for
 * the encryption key, 2 for an older key, 0 when not found. */
static int key_lookup(struct px_tickets *t, const unsigned char *name, struct tkey *out)
{
    unsigned slot = read_enter(t);
    const struct keyset *ks = atomic_load(&t->cur);
    assert(ks != NULL); /* a ring always holds a set from px_tickets_new to its free */
    int found = 0;
    for (size_t i = 0; ks && i < ks->n; i++) {
        if (!name || memcmp(ks->keys[i].name, name, 16) == 0) {
            *out = ks->keys[i];
            found = i == 0 ? 1 : 2;
            break;
        }
    }
    read_leave(t, slot);
    return found;
}

/* Decodes one base64 line into a key. Returns 0 or -1 with a reason in why. */
static int key_decode(const char *b64, size_t len, struct tkey *k, const char **why)
{
    unsigned char raw[((PX_TICKETS_KEY_LEN + 2) / 3) * 3 + 3];
    if (len != ((PX_TICKETS_KEY_LEN + 2) / 3) * 4) {
        *why = "expected base64 of 80 bytes (108 characters)";
        return -1;
    }
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    /* 80 bytes encode with one '=' of padding: 81 decoded bytes, the last is filler. */
    if (n != PX_TICKETS_KEY_LEN + 1 || b64[len - 1] != '=' || b64[len - 2] == '=') {
        *why = "not valid base64 of 80 bytes";
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }
    memcpy(k, raw, sizeof(*k));
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* Trims line in place; returns its content length and start. */
static char *trim(char *line, size_t *len)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                 line[n - 1] == '\t'))
        n--;
    line[n] = '\0';
    *len = n;
    return line;
}

static int parse_line(const char *path, unsigned lineno, char *line, struct keyset *ks, char *err,
                      size_t errlen)
{
    size_t len;
    char *s = trim(line, &len);
    if (len == 0 || s[0] == '#')
        return 0;
    if (ks->n == PX_TICKETS_FILE_MAX) {
        snprintf(err, errlen, "%s:%u: more than %d keys", path, lineno, PX_TICKETS_FILE_MAX);
        return -EINVAL;
    }
    assert(ks->n < PX_TICKETS_FILE_MAX); /* the set was allocated with FILE_MAX slots */
    const char *why = NULL;
    if (key_decode(s, len, &ks->keys[ks->n], &why) != 0) {
        snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
        return -EINVAL;
    }
    for (size_t i = 0; i < ks->n; i++) {
        if (memcmp(ks->keys[i].name, ks->keys[ks->n].name, 16) == 0) {
            snprintf(err, errlen, "%s:%u: duplicate key name (same as key %zu)", path, lineno,
                     i + 1);
            return -EINVAL;
        }
    }
    ks->n++;
    return 0;
}

/* Reads a key file into a new set. Returns NULL with err naming file and line. */
static struct keyset *load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct keyset *ks = keyset_alloc(PX_TICKETS_FILE_MAX);
    if (!ks) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    ks->n = 0;
    char line[512];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        rc = parse_line(path, lineno, line, ks, err, errlen);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -EIO;
    }
    if (rc == 0 && ks->n == 0) {
        snprintf(err, errlen, "%s: no keys (one base64 line of 80 bytes expected)", path);
        rc = -EINVAL;
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    if (rc != 0) {
        ks->n = PX_TICKETS_FILE_MAX; /* wipe every slot, a rejected line included */
        keyset_free(ks);
        return NULL;
    }
    return ks;
}

struct px_tickets *px_tickets_new(const char *key_file, unsigned rotate_seconds, char *err,
                                  size_t errlen)
{
    pthread_once(&ex_once, ex_index_init);
    if (ex_index < 0) {
        snprintf(err, errlen, "session tickets: no SSL_CTX ex_data index");
        return NULL;
    }
    struct px_tickets *t = calloc(1, sizeof(*t));
    if (!t || pthread_mutex_init(&t->wlock, NULL) != 0) {
        free(t);
        snprintf(err, errlen, "session tickets: out of memory");
        return NULL;
    }
    t->rotate_seconds = rotate_seconds;
    t->control = pthread_self();
    clock_gettime(CLOCK_MONOTONIC, &t->last_rotate);
    struct keyset *ks = NULL;
    if (key_file) {
        t->key_file = strdup(key_file);
        ks = t->key_file ? load_file(key_file, err, errlen) : NULL;
    } else {
        ks = keyset_alloc(1);
        if (ks && key_random(&ks->keys[0]) != 0) {
            keyset_free(ks);
            ks = NULL;
            snprintf(err, errlen, "session tickets: random generator failed");
        }
    }
    if (!ks) {
        if (key_file && !t->key_file)
            snprintf(err, errlen, "session tickets: out of memory");
        px_tickets_free(t);
        return NULL;
    }
    atomic_store(&t->cur, ks);
    return t;
}

void px_tickets_free(struct px_tickets *t)
{
    if (!t)
        return;
    ON_CONTROL_THREAD(t);
    /* every context using the ring is gone, so no handshake is reading it */
    assert(atomic_load(&t->readers[0]) == 0 && atomic_load(&t->readers[1]) == 0);
    keyset_free(atomic_load(&t->cur));
    pthread_mutex_destroy(&t->wlock);
    free(t->key_file);
    free(t);
}

int px_tickets_rotate(struct px_tickets *t)
{
    ON_CONTROL_THREAD(t);
    if (t->key_file)
        return -EPERM;
    pthread_mutex_lock(&t->wlock);
    const struct keyset *old = atomic_load(&t->cur); /* only writers replace it */
    assert(old != NULL && old->n >= 1 && old->n <= PX_TICKETS_KEEP);
    size_t n = old->n < PX_TICKETS_KEEP ? old->n + 1 : PX_TICKETS_KEEP;
    struct keyset *ks = keyset_alloc(n);
    int rc = ks ? key_random(&ks->keys[0]) : -ENOMEM;
    if (rc == 0) {
        memcpy(&ks->keys[1], old->keys, (n - 1) * sizeof(struct tkey));
        publish(t, ks);
        clock_gettime(CLOCK_MONOTONIC, &t->last_rotate);
    } else {
        keyset_free(ks);
    }
    pthread_mutex_unlock(&t->wlock);
    return rc;
}

int px_tickets_tick(struct px_tickets *t)
{
    ON_CONTROL_THREAD(t);
    if (t->key_file || t->rotate_seconds == 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t elapsed_ms = (int64_t)(now.tv_sec - t->last_rotate.tv_sec) * 1000 +
                         (now.tv_nsec - t->last_rotate.tv_nsec) / 1000000;
    if (elapsed_ms < (int64_t)t->rotate_seconds * 1000)
        return 0;
    int rc = px_tickets_rotate(t);
    return rc == 0 ? 1 : rc;
}

int px_tickets_reload_file(struct px_tickets *t, char *err, size_t errlen)
{
    ON_CONTROL_THREAD(t);
    if (!t->key_file) {
        snprintf(err, errlen, "session tickets: no key file configured");
        return -EPERM;
    }
    struct keyset *ks = load_file(t->key_file, err, errlen);
    if (!ks)
        return -EINVAL;
    pthread_mutex_lock(&t->wlock);
    publish(t, ks);
    pthread_mutex_unlock(&t->wlock);
    return 0;
}

size_t px_tickets_count(struct px_tickets *t)
{
    unsigned slot = read_enter(t);
    size_t n = atomic_load(&t->cur)->n;
    read_leave(t, slot);
    return n;
}

/* Keys the HMAC and cipher contexts; 0 on success. */
static int key_apply(const struct tkey *k, const unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac)),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    if (enc)
        return EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 0 : -1;
    return EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 0 : -1;
}

/* OpenSSL contract: encrypt -> 1 ok, 0 no ticket, <0 error; decrypt -> 0 key not found
 * (full handshake), 1 ok, 2 ok and renew, <0 error. */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    struct px_tickets *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), ex_index);
    if (!t)
        return 0; /* not ours: no ticket issued, none accepted */
    struct tkey k;
    int found = key_lookup(t, enc ? NULL : key_name, &k);
    int rc;
    if (enc) {
        if (found != 1 || RAND_bytes(iv, 16) != 1)
            rc = -1;
        else {
            memcpy(key_name, k.name, 16);
            rc = key_apply(&k, iv, cctx, hctx, 1) == 0 ? 1 : -1;
        }
    } else {
        rc = found == 0 ? 0 : (key_apply(&k, iv, cctx, hctx, 0) == 0 ? found : -1);
        /* TLS 1.3 clients use a ticket once (RFC 8446 C.4): without a renewal every other
         * connection would be a full handshake. */
        if (rc == 1 && SSL_version(s) == TLS1_3_VERSION)
            rc = 2;
    }
    OPENSSL_cleanse(&k, sizeof(k));
    return rc;
}

int px_tickets_install(SSL_CTX *ctx, struct px_tickets *t)
{
    if (SSL_CTX_set_ex_data(ctx, ex_index, t) != 1)
        return -1;
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1)
        return -1;
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    return 0;
}
