/* certstore internal (module conf, cs_conf.c): the effective TLS policy. */
#ifndef TWOFOLD_CS_CONF_INT_H
#define TWOFOLD_CS_CONF_INT_H

#include "cs.h"

/* Effective policy: conf->policy with every unset field replaced by twofold's default. */
void cs__policy_effective(const struct cs_policy *in, struct cs_policy *out);
/* True when two policies produce the same contexts (strings compared after defaults). */
bool cs__policy_equal(const struct cs_policy *a, const struct cs_policy *b);

#endif
