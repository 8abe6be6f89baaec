/* A request line: "METHOD path?query\ncookie\nauthorization". Routing, ids,
 * query parameters and cookies, with no database (the answer for a routed
 * request is then 503, decided after every check that needs no database). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vf_config cfg;
    static int ready;
    if (!ready) {
        char err[128];
        config_load_string(&cfg, "", "fuzz", err, sizeof(err));
        ready = 1;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *lines[3] = {text, NULL, NULL};
    for (int i = 1; i < 3; i++) {
        char *nl = lines[i - 1] ? strchr(lines[i - 1], '\n') : NULL;
        if (nl) {
            *nl = '\0';
            lines[i] = nl + 1;
        }
    }
    struct api_request rq = {0};
    char *sp = strchr(lines[0], ' ');
    const char *target = sp ? sp + 1 : "/";
    if (sp)
        *sp = '\0';
    snprintf(rq.method, sizeof(rq.method), "%s", lines[0]);
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    if (plen >= sizeof(rq.path))
        plen = sizeof(rq.path) - 1;
    memcpy(rq.path, target, plen);
    rq.query = q ? q + 1 : "";
    rq.cookie = lines[1];
    rq.authorization = lines[2];
    struct api_ctx ctx = {.cfg = &cfg, .db = NULL};
    struct api_response rs;
    api_response_init(&rs);
    api_handle(&ctx, &rq, &rs);
    api_response_free(&rs);
    char v[64];
    (void)api_query_param(rq.query, "state", v, sizeof(v));
    (void)api_query_param(rq.query, "before", v, sizeof(v));
    if (rq.cookie)
        (void)auth_cookie_value(rq.cookie, AUTH_COOKIE_NAME, v, sizeof(v));
    free(text);
    return 0;
}
