/* certstore internal (module validate, cs_validate.c): checks of a keypair and of
 * a site's names. */
#ifndef TWOFOLD_CS_VALIDATE_INT_H
#define TWOFOLD_CS_VALIDATE_INT_H

#include "cs.h"
#include <openssl/x509_vfy.h>

/* Checks one keypair (key strength, key matches leaf, chain order, optional CA bundle,
 * validity dates, expiry warning). Reports every problem with the file. Returns 0 when
 * the certificate may be used, negative when it is refused. store may be NULL. */
int cs__cert_validate(const struct cs_cert *c, const struct cs_conf *conf, X509_STORE *store,
                      const char *site, struct cs_diag *d);
/* True when a DNS SAN of c (or, without SANs, its CN) covers host name (lower-case). */
bool cs__cert_covers(const struct cs_cert *c, const char *name);
/* Checks a site's configured names against its certificates: a name no certificate
 * covers is CS_ERROR, one covered by some of the site's key types only is CS_WARNING.
 * Returns the number of CS_ERROR findings. */
size_t cs__site_check_names(const struct cs_site_conf *sc, struct cs_cert *const *certs, size_t n,
                            struct cs_diag *d);

#endif
