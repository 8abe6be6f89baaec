/* The ledger front: picks csv or sheets from the config. */
#include "ledger/ledger.h"

#include <string.h>

#include "core/config.h"
#include "ledger/ledger_csv.h"
#include "ledger/ledger_sheets.h"

enum vf_rc ledger_append(const struct vf_config *cfg, const struct ledger_row *row,
                         int *appended, struct vf_err *err)
{
    *appended = 0;
    if (strcmp(cfg->ledger, "csv") == 0)
        return ledger_csv_append(cfg->csv_path, row, appended, err);
    if (strcmp(cfg->ledger, "sheets") == 0)
        return ledger_sheets_append(cfg, row, appended, err);
    return vf_fail(err, VF_EPERMANENT, "ledger %s is not available", cfg->ledger);
}
