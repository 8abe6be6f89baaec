#ifndef VF_LEDGER_GOOGLE_AUTH_H
#define VF_LEDGER_GOOGLE_AUTH_H
/* Google service-account OAuth (PROTOCOLS.md §2): the key file → an RS256
 * JWT signed with libcrypto → POST to the file's token_uri → an access token,
 * cached per process (one mutex) until five minutes before it expires. */
#include <stddef.h>
#include <time.h>
#include "core/err.h"

#define GOOGLE_SHEETS_SCOPE "https://www.googleapis.com/auth/spreadsheets"
/* google-auth signs this audience whatever token_uri says (PROTOCOLS §2.2). */
#define GOOGLE_TOKEN_AUDIENCE "https://oauth2.googleapis.com/token"
#define GOOGLE_TOKEN_MARGIN_S 300

struct google_sa {
    char client_email[256];
    char token_uri[512];
    char private_key_id[128];   /* "" when the file has none */
    char *private_key_pem;      /* owned */
};

/* Reads the key file; err names the missing field or the unreadable file. */
enum vf_rc google_sa_load(const char *path, struct google_sa *sa, struct vf_err *err);
void google_sa_free(struct google_sa *sa);

/* The signed assertion "header.claims.signature" (iat now, exp now+3600);
 * caller frees *out. Accepts PKCS#8 and PKCS#1 PEM keys. */
enum vf_rc google_jwt_assertion(const struct google_sa *sa, const char *scope, time_t now,
                                char **out, struct vf_err *err);

/* An access token for the key file and scope, from the cache or fresh.
 * Pass the token a 401 refused as `refused` to force a new one (only when
 * the cache still holds that token, so concurrent refreshes do not pile
 * up); NULL otherwise. client_email may be NULL. */
enum vf_rc google_access_token(const char *sa_path, const char *scope, const char *refused,
                               char *token, size_t toklen, char *client_email, size_t emaillen,
                               struct vf_err *err);

/* Unpadded base64url. Returns 0, or -1 when out is too small. */
int google_base64url(const void *data, size_t len, char *out, size_t outlen);

#endif
