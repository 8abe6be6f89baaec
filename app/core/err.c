/* Result codes and their detail sentences. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *vf_strerror(enum vf_rc rc)
{
    switch (rc) {
    case VF_OK: return "ok";
    case VF_ENOMEM: return "out of memory";
    case VF_EINVAL: return "invalid input";
    case VF_ETOOBIG: return "input too large";
    case VF_EDB: return "database unavailable";
    case VF_ETRANSIENT: return "temporary failure";
    case VF_EPERMANENT: return "permanent failure";
    case VF_ENOTFOUND: return "not found";
    case VF_ECANCELLED: return "cancelled";
    }
    return "unknown error";
}

enum vf_rc vf_fail(struct vf_err *e, enum vf_rc rc, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->text, sizeof(e->text), fmt, ap);
        va_end(ap);
    }
    return rc;
}
