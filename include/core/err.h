#ifndef VF_CORE_ERR_H
#define VF_CORE_ERR_H
/* One result code for the modules, plus a caller-supplied detail struct that
 * parsers and remote clients fill with a sentence a person can act on.
 * Modules return errors and never log them; callers decide. */

enum vf_rc {
    VF_OK = 0,
    VF_ENOMEM,      /* out of memory */
    VF_EINVAL,      /* bad input: permanent */
    VF_ETOOBIG,     /* input over a size cap: permanent */
    VF_EDB,         /* database unavailable: transient */
    VF_ETRANSIENT,  /* upstream timeout, 429, 5xx, I/O hiccup: retry with backoff */
    VF_EPERMANENT,  /* upstream refused for good (bad key, blocked prompt, ...) */
    VF_ENOTFOUND,
    VF_ECANCELLED,  /* a person cancelled, or the lease was lost, or shutdown */
};

struct vf_err {
    char text[512];
    int http_status;    /* upstream status when there is one, else 0 */
    double retry_after; /* seconds an upstream asked us to wait, 0 when none */
};

const char *vf_strerror(enum vf_rc rc);
/* Fills e->text (printf-style) and returns rc, so `return vf_fail(e, VF_EINVAL, "...")` reads well. */
enum vf_rc vf_fail(struct vf_err *e, enum vf_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
