/* Table-driven configuration: defaults, then the file, then VF_* overrides.
 * Every key has a type, bounds or choices, and a default; anything else in
 * the file stops start-up with the file name and line. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_ENUM, CFG_REAL };

struct cfg_entry {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;          /* default, as text */
    long min, max;            /* CFG_INT bounds */
    const char *choices;      /* CFG_ENUM: "a|b|c" */
    double rmin, rmax;        /* CFG_REAL bounds */
};

#define S(name, def) {#name, CFG_STR, offsetof(struct vf_config, name), def, 0, 0, NULL}
#define I(name, def, lo, hi) {#name, CFG_INT, offsetof(struct vf_config, name), #def, lo, hi, NULL}
#define B(name, def) {#name, CFG_BOOL, offsetof(struct vf_config, name), #def, 0, 1, NULL}
#define E(name, def, ch) {#name, CFG_ENUM, offsetof(struct vf_config, name), def, 0, 0, ch}
#define R(name, def, lo, hi) \
    {#name, CFG_REAL, offsetof(struct vf_config, name), #def, 0, 0, NULL, lo, hi}

static const struct cfg_entry cfg_table[] = {
    S(db_host, "localhost"), I(db_port, 3306, 0, 65535), S(db_socket, ""), S(db_name, "vf"),
    S(db_user, "vf"), S(db_password, ""),
    E(script_provider, "template", "template|gemini|openai"), S(gemini_api_key, ""),
    S(gemini_base_url, "https://generativelanguage.googleapis.com"),
    S(gemini_model, "gemini-2.5-flash"), S(openai_base_url, ""), S(openai_api_key, ""),
    S(openai_model, "gpt-4o-mini"), R(script_temperature, 0.9, 0.0, 2.0),
    I(script_timeout_s, 120, 1, 900),
    E(tts, "espeak", "espeak|gemini|none"), S(gemini_tts_model, "gemini-2.5-flash-preview-tts"),
    S(default_voice, "en-us+f3"),
    S(media_dir, ""), I(render_threads, 0, 0, 64), E(x264_preset, "veryfast",
      "ultrafast|superfast|veryfast|faster|fast|medium|slow|slower|veryslow"),
    S(fonts_dir, ""), S(work_dir, "/var/lib/vf/work"),
    E(store, "local", "local|s3"), S(local_store_dir, "/var/lib/vf/store"), S(s3_endpoint, ""),
    S(s3_region, "us-east-1"), S(s3_bucket, ""), S(s3_prefix, ""), S(s3_access_key, ""),
    S(s3_secret_key, ""), S(s3_session_token, ""), B(s3_path_style, 1), S(s3_public_base_url, ""),
    I(s3_multipart_bytes, 16777216, 1048576, 1073741824), I(s3_timeout_s, 60, 1, 3600),
    E(ledger, "csv", "csv|sheets"), S(csv_path, "/var/lib/vf/ledger.csv"),
    S(sheets_spreadsheet_id, ""), S(sheets_range, "Sheet1!A1"),
    S(sheets_base_url, "https://sheets.googleapis.com"), S(google_service_account_file, ""),
    I(worker_concurrency, 1, 1, 64), I(lease_s, 60, 5, 3600), I(max_attempts, 3, 1, 20),
    I(poll_ms, 500, 10, 60000),
    I(max_body_bytes, 262144, 1024, 16777216), I(session_ttl_s, 604800, 60, 31536000),
    B(cookie_secure, 0), I(max_unfinished_jobs, 20, 1, 100000),
    I(sse_threads, 1100, 2, 4096), I(sse_stack_kb, 256, 64, 16384), I(sse_poll_ms, 250, 20, 10000),
    I(sse_keepalive_s, 15, 1, 300),
    E(log_level, "info", "debug|info|warn|error"), S(log_file, ""),
};
#define CFG_COUNT (sizeof(cfg_table) / sizeof(cfg_table[0]))

static const struct cfg_entry *cfg_find(const char *name)
{
    for (size_t i = 0; i < CFG_COUNT; i++)
        if (strcmp(cfg_table[i].name, name) == 0)
            return &cfg_table[i];
    return NULL;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* Sets one key from text. Returns 0, or -1 with the reason in why. */
static int cfg_set(struct vf_config *c, const struct cfg_entry *e, const char *v,
                   char *why, size_t whylen)
{
    void *slot = (char *)c + e->offset;
    switch (e->type) {
    case CFG_STR:
    case CFG_ENUM: {
        if (e->type == CFG_ENUM && !choice_ok(e->choices, v)) {
            snprintf(why, whylen, "%s must be one of %s, not \"%s\"", e->name, e->choices, v);
            return -1;
        }
        char *copy = strdup(v);
        if (!copy) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        free(*(char **)slot);
        *(char **)slot = copy;
        return 0;
    }
    case CFG_REAL: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || !(d >= e->rmin && d <= e->rmax)) {
            snprintf(why, whylen, "%s must be a number from %g to %g, not \"%s\"", e->name,
                     e->rmin, e->rmax, v);
            return -1;
        }
        *(double *)slot = d;
        return 0;
    }
    case CFG_INT:
    case CFG_BOOL: {
        long n;
        if (e->type == CFG_BOOL && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
                                    strcmp(v, "on") == 0)) {
            n = 1;
        } else if (e->type == CFG_BOOL && (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
                                           strcmp(v, "off") == 0)) {
            n = 0;
        } else {
            char *end;
            errno = 0;
            n = strtol(v, &end, 10);
            if (errno || end == v || *end || n < e->min || n > e->max) {
                snprintf(why, whylen, "%s must be %s from %ld to %ld, not \"%s\"", e->name,
                         e->type == CFG_BOOL ? "a boolean or" : "a whole number", e->min,
                         e->max, v);
                return -1;
            }
        }
        *(int *)slot = (int)n;
        return 0;
    }
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static void cfg_defaults(struct vf_config *c)
{
    char why[8];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < CFG_COUNT; i++)
        (void)cfg_set(c, &cfg_table[i], cfg_table[i].def, why, sizeof(why));
}

static int cfg_parse_text(struct vf_config *c, const char *text, const char *name,
                          char *err, size_t errlen)
{
    unsigned char seen[CFG_COUNT] = {0};
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        char line[4096];
        if (len >= sizeof(line)) {
            snprintf(err, errlen, "%s:%d: line too long", name, lineno);
            return -1;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl ? nl + 1 : p + len;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", name, lineno);
            return -1;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        const struct cfg_entry *e = cfg_find(key);
        if (!e) {
            snprintf(err, errlen, "%s:%d: unknown key \"%.64s\"", name, lineno, key);
            return -1;
        }
        size_t idx = (size_t)(e - cfg_table);
        if (seen[idx]) {
            snprintf(err, errlen, "%s:%d: \"%s\" is duplicate", name, lineno, key);
            return -1;
        }
        seen[idx] = 1;
        char why[256];
        if (cfg_set(c, e, val, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", name, lineno, why);
            return -1;
        }
    }
    return 0;
}

static int cfg_env_overrides(struct vf_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < CFG_COUNT; i++) {
        char var[80] = "VF_";
        size_t k = 3;
        for (const char *q = cfg_table[i].name; *q && k < sizeof(var) - 1; q++)
            var[k++] = (char)toupper((unsigned char)*q);
        var[k] = '\0';
        const char *v = getenv(var);
        if (!v)
            continue;
        char why[256];
        if (cfg_set(c, &cfg_table[i], v, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "environment %s: %s", var, why);
            return -1;
        }
    }
    return 0;
}

int config_load_string(struct vf_config *c, const char *text, const char *name,
                       char *err, size_t errlen)
{
    cfg_defaults(c);
    return cfg_parse_text(c, text, name, err, errlen);
}

static char *read_file(const char *path, int *missing)
{
    FILE *f = fopen(path, "r");
    *missing = 0;
    if (!f) {
        *missing = errno == ENOENT;
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t n;
    int ok = 1;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, n) != 0) {
            ok = 0;
            break;
        }
    fclose(f);
    if (!ok) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

int config_load(struct vf_config *c, const char *path, char *err, size_t errlen)
{
    int explicit_path = path != NULL || getenv("VF_CONFIG") != NULL;
    if (!path)
        path = getenv("VF_CONFIG");
    if (!path)
        path = VF_CONFIG_DEFAULT_PATH;
    cfg_defaults(c);
    int missing;
    char *text = read_file(path, &missing);
    if (!text && (explicit_path || !missing)) {
        snprintf(err, errlen, "%s: cannot read the config file: %s", path, strerror(errno));
        return -1;
    }
    if (text) {
        int rc = cfg_parse_text(c, text, path, err, errlen);
        free(text);
        if (rc != 0)
            return -1;
    }
    return cfg_env_overrides(c, err, errlen);
}

void config_free(struct vf_config *c)
{
    for (size_t i = 0; i < CFG_COUNT; i++) {
        if (cfg_table[i].type == CFG_STR || cfg_table[i].type == CFG_ENUM) {
            char **slot = (char **)((char *)c + cfg_table[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}
