#ifndef VF_LEDGER_LEDGER_H
#define VF_LEDGER_LEDGER_H
/* The ledger: one row per finished job, exactly once (csv or Google Sheets).
 * Before appending, the ledger looks for the job id, so a retried finalize
 * never adds a second row. */
#include "core/err.h"

struct vf_config;

struct ledger_row {
    long long job_id;
    const char *created_at, *completed_at;
    const char *mode, *topic, *title, *video_url;
    double duration_s;
    long long size_bytes;
    int width, height;
    const char *providers;      /* "template+espeak" */
    double render_seconds;
    const char *user;
};

/* Appends the row unless the job id is already there (*appended tells). */
enum vf_rc ledger_append(const struct vf_config *cfg, const struct ledger_row *row,
                         int *appended, struct vf_err *err);

#endif
