/* The Google Sheets ledger (PROTOCOLS.md §2.4, §2.5). */
#include "ledger/ledger_sheets.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "ledger/google_auth.h"
#include "net/http.h"

#define SHEETS_MAX_RESPONSE (16u << 20)

static const char *const sheet_columns[] = {
    "job_id", "created_at", "completed_at", "mode", "topic", "title", "video_url", "duration_s",
    "size_bytes", "width", "height", "providers", "render_seconds", "user",
};

int ledger_sheets_id_range(const char *sheets_range, char *out, size_t outlen)
{
    const char *bang = strrchr(sheets_range, '!');
    int n = bang ? (int)(bang - sheets_range) : (int)strlen(sheets_range);
    return vf_snprintf(out, outlen, "%.*s!A:A", n, sheets_range);
}

struct sheets_ctx {
    const struct vf_config *cfg;
    char token[4096];
    char email[256];
};

static enum vf_rc sheets_status(struct sheets_ctx *sc, const struct http_response *resp,
                                struct vf_err *err)
{
    long st = resp->status;
    json_t *j = resp->body.data ? json_loads(resp->body.data, 0, NULL) : NULL;
    const char *msg = j ? json_string_value(json_object_get(json_object_get(j, "error"), "message"))
                        : NULL;
    char said[240];
    snprintf(said, sizeof(said), "%s", msg ? msg : "no details");
    json_decref(j);
    err->http_status = (int)st;
    char ra[32];
    if (http_header_value(resp, "Retry-After", ra, sizeof(ra)))
        err->retry_after = strtod(ra, NULL);
    if (st == 429 || st >= 500 || st == 408)
        return vf_fail(err, VF_ETRANSIENT, "Google Sheets answered %ld (%s); will try again", st,
                       said);
    if (st == 403)
        return vf_fail(err, VF_EPERMANENT,
                       "Google Sheets refused access to spreadsheet %s: share the spreadsheet "
                       "with %s as an editor (%s)",
                       sc->cfg->sheets_spreadsheet_id, sc->email, said);
    if (st == 401)
        return vf_fail(err, VF_EPERMANENT,
                       "Google Sheets refused a fresh access token of %s: check "
                       "google_service_account_file (%s)", sc->email, said);
    if (st == 404)
        return vf_fail(err, VF_EPERMANENT,
                       "Google Sheets has no spreadsheet %s: check sheets_spreadsheet_id (%s)",
                       sc->cfg->sheets_spreadsheet_id, said);
    if (st == 400)
        return vf_fail(err, VF_EPERMANENT,
                       "Google Sheets refused the request: check sheets_range \"%s\" (%s)",
                       sc->cfg->sheets_range, said);
    return vf_fail(err, VF_EPERMANENT, "Google Sheets answered %ld (%s)", st, said);
}

/* One call with the cached token; a 401 gets one retry with a new token.
 * VF_OK means a 2xx answer is in resp. */
static enum vf_rc sheets_call(struct sheets_ctx *sc, const char *method, const char *url,
                              const char *body, struct http_response *resp, struct vf_err *err)
{
    const struct vf_config *cfg = sc->cfg;
    for (int attempt = 0; attempt < 2; attempt++) {
        enum vf_rc rc = google_access_token(cfg->google_service_account_file,
                                            GOOGLE_SHEETS_SCOPE, attempt ? sc->token : NULL,
                                            sc->token, sizeof(sc->token), sc->email,
                                            sizeof(sc->email), err);
        if (rc != VF_OK)
            return rc;
        char auth[4200];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sc->token);
        const char *headers[] = {auth, "Accept: application/json",
                                 body ? "Content-Type: application/json" : NULL, NULL};
        struct http_request rq = {.method = method, .url = url, .headers = headers, .body = body,
                                  .body_len = body ? strlen(body) : 0, .timeout_ms = 30000,
                                  .max_response = SHEETS_MAX_RESPONSE, .what = "Google Sheets"};
        if (attempt) {
            http_response_free(resp);
            http_response_init(resp);
        }
        rc = http_perform(&rq, resp, err);
        if (rc != VF_OK)
            return rc;
        if (resp->status >= 200 && resp->status < 300)
            return VF_OK;
        if (resp->status != 401 || attempt)
            return sheets_status(sc, resp, err);
    }
    return vf_fail(err, VF_EPERMANENT, "unreachable");
}

static int base_url(const struct vf_config *cfg, char *out, size_t outlen)
{
    size_t n = strlen(cfg->sheets_base_url);
    while (n > 0 && cfg->sheets_base_url[n - 1] == '/')
        n--;
    char id[512];
    if (http_uri_encode(cfg->sheets_spreadsheet_id, 0, id, sizeof(id)) != 0)
        return -1;
    return vf_snprintf(out, outlen, "%.*s/v4/spreadsheets/%s/values/", (int)n,
                       cfg->sheets_base_url, id);
}

/* Looks for the job id in column A. *found, and *empty when the sheet has no values. */
static enum vf_rc find_job(struct sheets_ctx *sc, long long job_id, int *found, int *empty,
                           struct vf_err *err)
{
    char base[1024], range[512], erange[1536], url[3072];
    if (base_url(sc->cfg, base, sizeof(base)) != 0 ||
        ledger_sheets_id_range(sc->cfg->sheets_range, range, sizeof(range)) != 0 ||
        http_uri_encode(range, 0, erange, sizeof(erange)) != 0 ||
        vf_snprintf(url, sizeof(url), "%s%s?majorDimension=COLUMNS&valueRenderOption=UNFORMATTED_VALUE",
                    base, erange) != 0)
        return vf_fail(err, VF_EPERMANENT, "sheets_spreadsheet_id or sheets_range is too long");
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = sheets_call(sc, "GET", url, NULL, &resp, err);
    *found = 0;
    *empty = 1;
    if (rc == VF_OK) {
        json_t *j = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);
        json_t *col = json_array_get(json_object_get(j, "values"), 0);
        if (!j)
            rc = vf_fail(err, VF_ETRANSIENT, "Google Sheets answered values.get with no JSON");
        char want[32];
        snprintf(want, sizeof(want), "%lld", job_id);
        size_t i;
        json_t *v;
        json_array_foreach(col, i, v) {
            *empty = 0;
            if ((json_is_integer(v) && json_integer_value(v) == job_id) ||
                (json_is_real(v) && json_real_value(v) == (double)job_id) ||
                (json_is_string(v) && strcmp(json_string_value(v), want) == 0))
                *found = 1;
        }
        json_decref(j);
    }
    http_response_free(&resp);
    return rc;
}

static json_t *row_json(const struct ledger_row *r)
{
#define STR(s) json_string((s) ? (s) : "")
    json_t *row = json_array();
    json_array_append_new(row, json_integer(r->job_id));
    json_array_append_new(row, STR(r->created_at));
    json_array_append_new(row, STR(r->completed_at));
    json_array_append_new(row, STR(r->mode));
    json_array_append_new(row, STR(r->topic));
    json_array_append_new(row, STR(r->title));
    json_array_append_new(row, STR(r->video_url));
    json_array_append_new(row, json_real((double)(long long)(r->duration_s * 1000 + 0.5) / 1000));
    json_array_append_new(row, json_integer(r->size_bytes));
    json_array_append_new(row, json_integer(r->width));
    json_array_append_new(row, json_integer(r->height));
    json_array_append_new(row, STR(r->providers));
    json_array_append_new(row,
                          json_real((double)(long long)(r->render_seconds * 1000 + 0.5) / 1000));
    json_array_append_new(row, STR(r->user));
#undef STR
    return row;
}

static enum vf_rc append_rows(struct sheets_ctx *sc, const struct ledger_row *r, int with_header,
                              struct vf_err *err)
{
    char base[1024], erange[1536], url[3072];
    if (base_url(sc->cfg, base, sizeof(base)) != 0 ||
        http_uri_encode(sc->cfg->sheets_range, 0, erange, sizeof(erange)) != 0 ||
        vf_snprintf(url, sizeof(url),
                    "%s%s:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS", base,
                    erange) != 0)
        return vf_fail(err, VF_EPERMANENT, "sheets_spreadsheet_id or sheets_range is too long");
    json_t *values = json_array();
    if (with_header) {
        json_t *h = json_array();
        for (size_t i = 0; i < sizeof(sheet_columns) / sizeof(sheet_columns[0]); i++)
            json_array_append_new(h, json_string(sheet_columns[i]));
        json_array_append_new(values, h);
    }
    json_array_append_new(values, row_json(r));
    /* RAW keeps text as text: a topic that starts with '=' is not a formula. */
    json_t *body = json_pack("{s:s, s:o}", "majorDimension", "ROWS", "values", values);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return vf_fail(err, VF_ENOMEM, "cannot build the ledger row");
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = sheets_call(sc, "POST", url, text, &resp, err);
    http_response_free(&resp);
    free(text);
    return rc;
}

enum vf_rc ledger_sheets_append(const struct vf_config *cfg, const struct ledger_row *row,
                                int *appended, struct vf_err *err)
{
    *appended = 0;
    if (!cfg->sheets_spreadsheet_id[0])
        return vf_fail(err, VF_EPERMANENT, "the sheets ledger needs sheets_spreadsheet_id");
    if (!cfg->google_service_account_file[0])
        return vf_fail(err, VF_EPERMANENT, "the sheets ledger needs google_service_account_file");
    struct sheets_ctx sc = {.cfg = cfg};
    int found = 0, empty = 0;
    enum vf_rc rc = find_job(&sc, row->job_id, &found, &empty, err);
    if (rc != VF_OK || found)
        return rc;
    rc = append_rows(&sc, row, empty, err);
    if (rc == VF_OK)
        *appended = 1;
    return rc;
}
