#ifndef VF_AUTH_AUTH_H
#define VF_AUTH_AUTH_H
/* Users, sessions and API tokens. Session ids and tokens are random 256-bit
 * values shown once and stored only as their SHA-256; passwords are crypt(3)
 * yescrypt hashes. Shared by vf-api, vf-sse and vfctl. */
#include <stddef.h>
#include "core/err.h"
#include "db/db.h"

#define AUTH_COOKIE_NAME "vf_session"
#define AUTH_SECRET_HEX_LEN 64      /* 256 bits as hex */

struct auth_user {
    long long id;
    char username[64];
    int is_admin;
};

/* The credential a request presents, by the hash it is stored under. */
enum auth_kind { AUTH_SESSION = 1, AUTH_TOKEN = 2 };
struct auth_credential {
    enum auth_kind kind;
    char hash[65];
};

/* Reads the credential as auth_identify does: the bearer token wins over
 * the cookie. Returns 0, or -1 when there is none or it is malformed. */
int auth_credential_of(const char *cookie_header, const char *authorization,
                       struct auth_credential *c);

/* For an open event stream: which of these credentials still let their
 * holder in (a session neither expired nor logged out, a token not
 * revoked). Sets live[i] to 1 or 0. One query per AUTH_LIVE_BATCH
 * credentials. VF_OK or VF_EDB. */
#define AUTH_LIVE_BATCH 16
enum vf_rc auth_credentials_live(struct db *db, const struct auth_credential *creds, int n,
                                 unsigned char *live, struct vf_err *err);

/* Who is asking: the `vf_session` cookie from the Cookie header, or
 * `Authorization: Bearer <token>`. Either header may be NULL. Returns VF_OK
 * with *u filled and *via_cookie set; VF_ENOTFOUND when there are no valid
 * credentials (answer 401); VF_EDB when the database is down (503). */
enum vf_rc auth_identify(struct db *db, const char *cookie_header, const char *authorization,
                         struct auth_user *u, int *via_cookie, struct vf_err *err);

/* Checks a password. VF_OK with *u filled, VF_ENOTFOUND for a wrong name or
 * password (the same answer for both), VF_EDB. */
enum vf_rc auth_login(struct db *db, const char *username, const char *password,
                      struct auth_user *u, struct vf_err *err);
/* Creates a session; writes the secret (hex, AUTH_SECRET_HEX_LEN+1 bytes) to
 * put in the cookie. */
enum vf_rc auth_session_create(struct db *db, long long user_id, int ttl_s, char *secret_out,
                               struct vf_err *err);
/* Deletes the session named by the cookie header (no-op when absent). */
enum vf_rc auth_session_delete(struct db *db, const char *cookie_header, struct vf_err *err);

/* vfctl: creates a user (role "user" or "admin"); VF_EINVAL when it exists. */
enum vf_rc auth_user_add(struct db *db, const char *username, const char *password,
                         const char *role, struct vf_err *err);
/* vfctl: creates an API token for the user, secret written as in sessions. */
enum vf_rc auth_token_create(struct db *db, const char *username, const char *label,
                             char *secret_out, struct vf_err *err);
/* vfctl: revokes the token whose secret this is (VF_ENOTFOUND when no
 * such token is live). Its next request is a 401. */
enum vf_rc auth_token_revoke(struct db *db, const char *secret, struct vf_err *err);
/* vfctl: revokes every live token of the user; *count says how many. */
enum vf_rc auth_token_revoke_user(struct db *db, const char *username, long long *count,
                                  struct vf_err *err);

/* Pure helpers (unit-tested). */
/* Finds `name` in a Cookie header and copies its value (bounded). Returns 0 or -1. */
int auth_cookie_value(const char *cookie_header, const char *name, char *out, size_t outlen);
/* Lower-case hex SHA-256 of s into out (65 bytes). */
void auth_sha256_hex(const char *s, size_t len, char out[65]);
/* Fills out with 64 random hex characters (+NUL). Returns 0 or -1. */
int auth_random_secret(char out[AUTH_SECRET_HEX_LEN + 1]);

#endif
