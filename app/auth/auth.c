/* Users, sessions and API tokens (the SQL of users, sessions, api_tokens). */
#include "auth/auth.h"

#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

void auth_sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

int auth_random_secret(char out[AUTH_SECRET_HEX_LEN + 1])
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    out[AUTH_SECRET_HEX_LEN] = '\0';
    return 0;
}

int auth_cookie_value(const char *cookie_header, const char *name, char *out, size_t outlen)
{
    if (!cookie_header || !outlen)
        return -1;
    size_t nlen = strlen(name);
    const char *p = cookie_header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *eq = strchr(p, '=');
        const char *semi = strchr(p, ';');
        if (!semi)
            semi = p + strlen(p);
        if (eq && eq < semi && (size_t)(eq - p) == nlen && strncmp(p, name, nlen) == 0) {
            size_t vlen = (size_t)(semi - eq - 1);
            while (vlen && (eq[vlen] == ' ' || eq[vlen] == '\t'))
                vlen--;
            if (vlen >= outlen)
                return -1;
            memcpy(out, eq + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p = semi;
    }
    return -1;
}

static int is_hex_secret(const char *s)
{
    if (strlen(s) != AUTH_SECRET_HEX_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static void user_from_row(const struct db_result *r, struct auth_user *u)
{
    u->id = db_cell_int(r, 0, 0, 0);
    vf_strlcpy(u->username, db_cell(r, 0, 1) ? db_cell(r, 0, 1) : "", sizeof(u->username));
    u->is_admin = db_cell(r, 0, 2) && strcmp(db_cell(r, 0, 2), "admin") == 0;
}

static enum vf_rc lookup_by_hash(struct db *db, const char *sql, const char *hash,
                                 struct auth_user *u, struct vf_err *err)
{
    struct db_param p[] = {DB_STR(hash)};
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    if (r.nrows == 0) {
        db_result_free(&r);
        return vf_fail(err, VF_ENOTFOUND, "unknown or expired credentials");
    }
    user_from_row(&r, u);
    db_result_free(&r);
    return VF_OK;
}

int auth_credential_of(const char *cookie_header, const char *authorization,
                       struct auth_credential *c)
{
    memset(c, 0, sizeof(*c));
    if (authorization && *authorization) {
        if (strncasecmp(authorization, "Bearer ", 7) != 0 || !is_hex_secret(authorization + 7))
            return -1;
        c->kind = AUTH_TOKEN;
        auth_sha256_hex(authorization + 7, AUTH_SECRET_HEX_LEN, c->hash);
        return 0;
    }
    char secret[AUTH_SECRET_HEX_LEN + 2];
    if (auth_cookie_value(cookie_header, AUTH_COOKIE_NAME, secret, sizeof(secret)) != 0 ||
        !is_hex_secret(secret))
        return -1;
    c->kind = AUTH_SESSION;
    auth_sha256_hex(secret, AUTH_SECRET_HEX_LEN, c->hash);
    return 0;
}

enum vf_rc auth_identify(struct db *db, const char *cookie_header, const char *authorization,
                         struct auth_user *u, int *via_cookie, struct vf_err *err)
{
    static const char by_token[] =
        "SELECT u.id, u.username, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = ? AND t.revoked_at IS NULL";
    static const char by_session[] =
        "SELECT u.id, u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.id_hash = ? AND s.expires_at > UTC_TIMESTAMP(3)";
    memset(u, 0, sizeof(*u));
    *via_cookie = 0;
    struct auth_credential c;
    if (auth_credential_of(cookie_header, authorization, &c) != 0)
        return vf_fail(err, VF_ENOTFOUND,
                       authorization && *authorization
                           ? "the Authorization header is not a valid bearer token"
                           : "no credentials");
    *via_cookie = c.kind == AUTH_SESSION;
    return lookup_by_hash(db, c.kind == AUTH_TOKEN ? by_token : by_session, c.hash, u, err);
}

#define AUTH_Q4 "?,?,?,?"
#define AUTH_Q16 AUTH_Q4 "," AUTH_Q4 "," AUTH_Q4 "," AUTH_Q4

/* Up to AUTH_LIVE_BATCH credentials; unused places repeat the first. */
static enum vf_rc live_batch(struct db *db, const struct auth_credential *creds, int n,
                             unsigned char *live, struct vf_err *err)
{
    _Static_assert(AUTH_LIVE_BATCH == 16, "the IN lists below hold 16 places");
    static const char sql[] =
        "SELECT 1, id_hash FROM sessions WHERE expires_at > UTC_TIMESTAMP(3) AND id_hash IN (" AUTH_Q16 ") "
        "UNION ALL "
        "SELECT 2, token_hash FROM api_tokens WHERE revoked_at IS NULL AND token_hash IN (" AUTH_Q16 ")";
    struct db_param p[2 * AUTH_LIVE_BATCH];
    for (int i = 0; i < AUTH_LIVE_BATCH; i++)
        p[i] = p[AUTH_LIVE_BATCH + i] = DB_STR(creds[i < n ? i : 0].hash);
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 2 * AUTH_LIVE_BATCH, &r, err);
    if (rc != VF_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        live[i] = 0;
        for (int row = 0; row < r.nrows && !live[i]; row++)
            live[i] = db_cell_int(&r, row, 0, 0) == creds[i].kind && db_cell(&r, row, 1) &&
                      strcmp(db_cell(&r, row, 1), creds[i].hash) == 0;
    }
    db_result_free(&r);
    return VF_OK;
}

enum vf_rc auth_credentials_live(struct db *db, const struct auth_credential *creds, int n,
                                 unsigned char *live, struct vf_err *err)
{
    for (int done = 0; done < n; done += AUTH_LIVE_BATCH) {
        int k = n - done < AUTH_LIVE_BATCH ? n - done : AUTH_LIVE_BATCH;
        enum vf_rc rc = live_batch(db, creds + done, k, live + done, err);
        if (rc != VF_OK)
            return rc;
    }
    return VF_OK;
}

enum vf_rc auth_login(struct db *db, const char *username, const char *password,
                      struct auth_user *u, struct vf_err *err)
{
    static const char sql[] = "SELECT id, username, role, password_hash FROM users WHERE username = ?";
    /* A fixed hash to check against when the user does not exist, so both
     * failures take the same time. */
    static const char dummy[] = "$y$j9T$0123456789abcdefghijkl$Ehx1Cg7jfLQ1VY5tMqQKpLv6VxKgqT4uCv8mJ9pOdZ4";
    struct db_param p[] = {DB_STR(username)};
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    const char *hash = r.nrows ? db_cell(&r, 0, 3) : dummy;
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *out = crypt_r(password, hash, &cd);
    int ok = r.nrows && out && out[0] != '*' && strcmp(out, hash) == 0;
    if (ok)
        user_from_row(&r, u);
    db_result_free(&r);
    return ok ? VF_OK : vf_fail(err, VF_ENOTFOUND, "wrong user name or password");
}

enum vf_rc auth_session_create(struct db *db, long long user_id, int ttl_s, char *secret_out,
                               struct vf_err *err)
{
    static const char sql[] =
        "INSERT INTO sessions (id_hash, user_id, expires_at) "
        "VALUES (?, ?, UTC_TIMESTAMP(3) + INTERVAL ? SECOND)";
    static const char sweep[] = "DELETE FROM sessions WHERE expires_at < UTC_TIMESTAMP(3)";
    if (auth_random_secret(secret_out) != 0)
        return vf_fail(err, VF_EPERMANENT, "no randomness available");
    char hash[65];
    auth_sha256_hex(secret_out, strlen(secret_out), hash);
    struct db_param p[] = {DB_STR(hash), DB_INT(user_id), DB_INT(ttl_s)};
    enum vf_rc rc = db_exec(db, sql, p, 3, NULL, NULL, err);
    if (rc == VF_OK)
        (void)db_exec(db, sweep, NULL, 0, NULL, NULL, err);
    return rc;
}

enum vf_rc auth_session_delete(struct db *db, const char *cookie_header, struct vf_err *err)
{
    static const char sql[] = "DELETE FROM sessions WHERE id_hash = ?";
    char secret[AUTH_SECRET_HEX_LEN + 2];
    if (auth_cookie_value(cookie_header, AUTH_COOKIE_NAME, secret, sizeof(secret)) != 0)
        return VF_OK;
    char hash[65];
    auth_sha256_hex(secret, strlen(secret), hash);
    struct db_param p[] = {DB_STR(hash)};
    return db_exec(db, sql, p, 1, NULL, NULL, err);
}

/* The id of the named user: VF_OK, VF_ENOTFOUND (message says so), VF_EDB. */
static enum vf_rc user_id_by_name(struct db *db, const char *username, long long *uid,
                                  struct vf_err *err)
{
    static const char find[] = "SELECT id FROM users WHERE username = ?";
    struct db_param p[] = {DB_STR(username)};
    struct db_result r;
    enum vf_rc rc = db_query(db, find, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    *uid = r.nrows ? db_cell_int(&r, 0, 0, 0) : 0;
    db_result_free(&r);
    return *uid ? VF_OK : vf_fail(err, VF_ENOTFOUND, "no user called %s", username);
}

enum vf_rc auth_user_add(struct db *db, const char *username, const char *password,
                         const char *role, struct vf_err *err)
{
    static const char sql[] = "INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)";
    if (strcmp(role, "user") != 0 && strcmp(role, "admin") != 0)
        return vf_fail(err, VF_EINVAL, "role must be user or admin");
    if (!*username || strlen(username) > 63)
        return vf_fail(err, VF_EINVAL, "a user name has 1 to 63 characters");
    if (strlen(password) < 8)
        return vf_fail(err, VF_EINVAL, "a password has at least 8 characters");
    long long uid = 0;
    enum vf_rc rc = user_id_by_name(db, username, &uid, err);
    if (rc == VF_OK)
        return vf_fail(err, VF_EINVAL, "user %s already exists", username);
    if (rc != VF_ENOTFOUND)
        return rc;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
        return vf_fail(err, VF_EPERMANENT, "cannot make a password salt");
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *hash = crypt_r(password, setting, &cd);
    if (!hash || hash[0] == '*')
        return vf_fail(err, VF_EPERMANENT, "cannot hash the password");
    struct db_param p[] = {DB_STR(username), DB_STR(hash), DB_STR(role)};
    return db_exec(db, sql, p, 3, NULL, NULL, err);
}

enum vf_rc auth_token_create(struct db *db, const char *username, const char *label,
                             char *secret_out, struct vf_err *err)
{
    static const char sql[] = "INSERT INTO api_tokens (token_hash, user_id, name) VALUES (?, ?, ?)";
    long long uid = 0;
    enum vf_rc rc = user_id_by_name(db, username, &uid, err);
    if (rc != VF_OK)
        return rc;
    if (auth_random_secret(secret_out) != 0)
        return vf_fail(err, VF_EPERMANENT, "no randomness available");
    char hash[65];
    auth_sha256_hex(secret_out, strlen(secret_out), hash);
    char name[64];
    vf_utf8_copy(name, label ? label : "", sizeof(name));
    struct db_param p[] = {DB_STR(hash), DB_INT(uid), DB_STR(name)};
    return db_exec(db, sql, p, 3, NULL, NULL, err);
}

enum vf_rc auth_token_revoke(struct db *db, const char *secret, struct vf_err *err)
{
    static const char sql[] =
        "UPDATE api_tokens SET revoked_at = UTC_TIMESTAMP(3) "
        "WHERE token_hash = ? AND revoked_at IS NULL";
    if (!is_hex_secret(secret))
        return vf_fail(err, VF_EINVAL, "a token is %d lower-case hex characters",
                       AUTH_SECRET_HEX_LEN);
    char hash[65];
    auth_sha256_hex(secret, strlen(secret), hash);
    struct db_param p[] = {DB_STR(hash)};
    uint64_t affected = 0;
    enum vf_rc rc = db_exec(db, sql, p, 1, &affected, NULL, err);
    if (rc == VF_OK && affected == 0)
        return vf_fail(err, VF_ENOTFOUND, "no live token has that value");
    return rc;
}

enum vf_rc auth_token_revoke_user(struct db *db, const char *username, long long *count,
                                  struct vf_err *err)
{
    static const char sql[] =
        "UPDATE api_tokens SET revoked_at = UTC_TIMESTAMP(3) "
        "WHERE user_id = ? AND revoked_at IS NULL";
    *count = 0;
    long long uid = 0;
    enum vf_rc rc = user_id_by_name(db, username, &uid, err);
    if (rc != VF_OK)
        return rc;
    struct db_param p[] = {DB_INT(uid)};
    uint64_t affected = 0;
    rc = db_exec(db, sql, p, 1, &affected, NULL, err);
    *count = (long long)affected;
    return rc;
}
