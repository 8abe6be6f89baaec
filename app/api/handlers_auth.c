/* /api/auth: login, logout, me. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"

static json_t *user_json(const struct auth_user *u)
{
    return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)u->id, "username", u->username, "role",
                     u->is_admin ? "admin" : "user");
}

void api_auth_login(struct api_ctx *ctx, const struct api_request *rq,
                    const struct api_params *pp, struct api_response *rs)
{
    (void)pp;
    json_t *body = api_parse_json_body(rq, rs);
    if (!body)
        return;
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        if (strcmp(key, "username") != 0 && strcmp(key, "password") != 0) {
            api_respond_error(rs, 400, "unknown_field", key, "unknown field %.64s", key);
            json_decref(body);
            return;
        }
    }
    json_t *ju = json_object_get(body, "username"), *jp = json_object_get(body, "password");
    int bad_user = ju && (!json_is_string(ju) || json_string_length(ju) == 0 ||
                          json_string_length(ju) > 63 ||
                          strlen(json_string_value(ju)) != json_string_length(ju));
    int bad_password = jp && (!json_is_string(jp) || json_string_length(jp) > 1024 ||
                              strlen(json_string_value(jp)) != json_string_length(jp));
    if (!ju || !jp) {
        api_respond_error(rs, 400, "missing_field", !ju ? "username" : "password",
                          "send username and password");
    } else if (bad_user) {
        api_respond_error(rs, 400, "invalid_field", "username",
                          "the user name must be a string of 1 to 63 characters");
    } else if (bad_password) {
        api_respond_error(rs, 400, "invalid_field", "password",
                          "the password must be a string of at most 1024 characters");
    } else {
        struct auth_user u;
        struct vf_err err = {0};
        enum vf_rc rc = auth_login(ctx->db, json_string_value(ju), json_string_value(jp), &u, &err);
        if (rc == VF_ENOTFOUND) {
            log_info("login refused for a user name of %zu characters", json_string_length(ju));
            api_respond_error(rs, 401, "invalid_credentials", NULL, "wrong user name or password");
        } else if (rc != VF_OK) {
            api_respond_store_error(rs, rc, &err);
        } else {
            char secret[AUTH_SECRET_HEX_LEN + 1];
            rc = auth_session_create(ctx->db, u.id, ctx->cfg->session_ttl_s, secret, &err);
            if (rc != VF_OK) {
                api_respond_store_error(rs, rc, &err);
            } else {
                char cookie[256];
                snprintf(cookie, sizeof(cookie),
                         "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                         AUTH_COOKIE_NAME, secret, ctx->cfg->session_ttl_s,
                         ctx->cfg->cookie_secure ? "; Secure" : "");
                api_add_header(rs, "Set-Cookie", cookie);
                api_respond_json(rs, 200, json_pack("{s:o}", "user", user_json(&u)));
            }
        }
    }
    json_decref(body);
}

void api_auth_logout(struct api_ctx *ctx, const struct api_request *rq,
                     const struct api_params *pp, struct api_response *rs)
{
    (void)pp;
    struct vf_err err = {0};
    enum vf_rc rc = auth_session_delete(ctx->db, rq->cookie, &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        return;
    }
    char cookie[160];
    snprintf(cookie, sizeof(cookie), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
             AUTH_COOKIE_NAME, ctx->cfg->cookie_secure ? "; Secure" : "");
    api_add_header(rs, "Set-Cookie", cookie);
    rs->status = 204;
}

void api_auth_me(struct api_ctx *ctx, const struct api_request *rq, const struct api_params *pp,
                 struct api_response *rs)
{
    (void)rq;
    (void)pp;
    api_respond_json(rs, 200, json_pack("{s:o}", "user", user_json(&ctx->user)));
}
