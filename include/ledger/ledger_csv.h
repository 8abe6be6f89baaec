#ifndef VF_LEDGER_LEDGER_CSV_H
#define VF_LEDGER_LEDGER_CSV_H
/* The CSV ledger: an append-only file with a header row, one row per job.
 * Appends take an exclusive flock and look for the job id first, so two
 * workers or a retried finalize never write a second row. */
#include <stddef.h>
#include "core/err.h"
#include "ledger/ledger.h"

enum vf_rc ledger_csv_append(const char *path, const struct ledger_row *row, int *appended,
                             struct vf_err *err);
/* Writes one CSV field, quoted when needed (RFC 4180) and with a leading
 * quote mark for text a spreadsheet would run as a formula. */
void ledger_csv_field(char *out, size_t outlen, const char *value);

#endif
