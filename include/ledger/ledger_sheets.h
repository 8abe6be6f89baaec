#ifndef VF_LEDGER_LEDGER_SHEETS_H
#define VF_LEDGER_LEDGER_SHEETS_H
/* The Google Sheets ledger: one row per job through values.append, with the
 * columns of the CSV ledger (a header row is written into an empty sheet).
 * Before appending it reads the id column (values.get) and skips a job id
 * that is already there, so a retried finalize never adds a second row.
 * 401 refreshes the access token once; 429 and 5xx are VF_ETRANSIENT; 403
 * says which address to share the spreadsheet with. */
#include <stddef.h>
#include "core/err.h"
#include "ledger/ledger.h"

struct vf_config;

enum vf_rc ledger_sheets_append(const struct vf_config *cfg, const struct ledger_row *row,
                                int *appended, struct vf_err *err);

/* The A1 range of the id column for sheets_range: "Sheet1!A1" → "Sheet1!A:A",
 * "'My Sheet'!B2:D" → "'My Sheet'!A:A", "Sheet1" → "Sheet1!A:A".
 * Returns 0 or -1 when out is too small. */
int ledger_sheets_id_range(const char *sheets_range, char *out, size_t outlen);

#endif
