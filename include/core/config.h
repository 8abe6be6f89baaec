#ifndef VF_CORE_CONFIG_H
#define VF_CORE_CONFIG_H
/* Configuration: one file of `key = value` lines (# comments), path from
 * VF_CONFIG (default /etc/vf/vf.conf), and any key overridden by the
 * environment variable VF_<KEY> in upper case. Unknown or duplicate keys and
 * bad values stop start-up with the file and line. Strings are owned by the
 * struct (config_free). Secrets live here and must never be logged. */
#include <stddef.h>

#define VF_CONFIG_DEFAULT_PATH "/etc/vf/vf.conf"

struct vf_config {
    /* database */
    char *db_host; int db_port; char *db_socket; char *db_name; char *db_user; char *db_password;
    /* script */
    char *script_provider; char *gemini_api_key; char *gemini_base_url; char *gemini_model;
    char *openai_base_url; char *openai_api_key; char *openai_model;
    double script_temperature; int script_timeout_s;
    /* voice */
    char *tts; char *gemini_tts_model; char *default_voice;
    /* render */
    char *media_dir; int render_threads; char *x264_preset; char *fonts_dir; char *work_dir;
    /* store */
    char *store; char *local_store_dir; char *s3_endpoint; char *s3_region; char *s3_bucket;
    char *s3_prefix; char *s3_access_key; char *s3_secret_key; char *s3_session_token;
    int s3_path_style; char *s3_public_base_url; int s3_multipart_bytes;
    int s3_timeout_s;
    /* ledger */
    char *ledger; char *csv_path; char *sheets_spreadsheet_id; char *sheets_range;
    char *sheets_base_url; char *google_service_account_file;
    /* worker */
    int worker_concurrency; int lease_s; int max_attempts; int poll_ms;
    /* api and sessions */
    int max_body_bytes; int session_ttl_s; int cookie_secure; int max_unfinished_jobs;
    /* event streams */
    int sse_threads; int sse_stack_kb; int sse_poll_ms; int sse_keepalive_s;
    /* logs */
    char *log_level; char *log_file;
};

/* Fills c with defaults, then the file (path NULL: $VF_CONFIG or the default;
 * a missing default file is not an error), then VF_* environment overrides.
 * Returns 0, or -1 with "file:line: reason" in err. */
int config_load(struct vf_config *c, const char *path, char *err, size_t errlen);
/* Parses text as if it were a file called `name` (for tests). Same return. */
int config_load_string(struct vf_config *c, const char *text, const char *name, char *err, size_t errlen);
void config_free(struct vf_config *c);

#endif
