#ifndef VF_DB_DB_H
#define VF_DB_DB_H
/* A MariaDB/MySQL connection that speaks only prepared statements.
 *
 * Statements are prepared once per connection and cached by their SQL text;
 * after a lost connection (2006/2013) the connection is reopened and every
 * cached statement is prepared again, and a statement run outside a
 * transaction is retried once. Results come back as text cells (NULL for SQL
 * NULL), which keeps callers simple; the values are small.
 *
 * One struct db per thread: never share one between threads. */
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

struct vf_config;
struct db;

enum db_param_type { DBP_NULL, DBP_INT, DBP_STR, DBP_DOUBLE };

struct db_param {
    enum db_param_type type;
    long long i;
    double d;
    const char *s;
    size_t len;     /* for DBP_STR; strlen(s) when 0 */
};

#define DB_INT(v)    ((struct db_param){.type = DBP_INT, .i = (long long)(v)})
/* A string parameter; NULL binds SQL NULL. */
static inline struct db_param db_param_str(const char *s)
{
    struct db_param p = {.type = s ? DBP_STR : DBP_NULL, .s = s};
    return p;
}
#define DB_STR(v)    db_param_str(v)
#define DB_STRN(v, n) ((struct db_param){.type = DBP_STR, .s = (v), .len = (n)})
#define DB_DOUBLE(v) ((struct db_param){.type = DBP_DOUBLE, .d = (v)})
#define DB_NULL      ((struct db_param){.type = DBP_NULL})

struct db_result {
    int nrows, ncols;
    char **cells;           /* nrows*ncols, row-major; NULL for SQL NULL */
    unsigned long *lens;
};

/* Returns a connected handle, or NULL with the reason in err (VF_EDB). */
struct db *db_open(const struct vf_config *cfg, struct vf_err *err);
void db_close(struct db *db);

/* Runs a statement. affected and insert_id may be NULL.
 * Returns VF_OK; VF_EDB when the server is unreachable; VF_ETRANSIENT on a
 * deadlock or lock wait timeout (retry the transaction); VF_EINVAL for other
 * SQL errors (a bug or a constraint: err->text has the server's words). */
enum vf_rc db_exec(struct db *db, const char *sql, const struct db_param *params, int nparams,
                   uint64_t *affected, uint64_t *insert_id, struct vf_err *err);

/* Runs a query and fills res (free with db_result_free). Same returns. */
enum vf_rc db_query(struct db *db, const char *sql, const struct db_param *params, int nparams,
                    struct db_result *res, struct vf_err *err);
void db_result_free(struct db_result *res);
/* Borrowed cell text (NULL for SQL NULL). */
const char *db_cell(const struct db_result *res, int row, int col);
long long db_cell_int(const struct db_result *res, int row, int col, long long dflt);

/* Transactions. db_begin's isolation: 0 default, 1 READ COMMITTED. */
enum vf_rc db_begin(struct db *db, int read_committed, struct vf_err *err);
enum vf_rc db_commit(struct db *db, struct vf_err *err);
void db_rollback(struct db *db);

/* Runs a multi-statement SQL text (migrations only: no parameters). */
enum vf_rc db_exec_script(struct db *db, const char *sql, struct vf_err *err);

/* Pings the server, reconnecting if needed. */
enum vf_rc db_ping(struct db *db, struct vf_err *err);

#endif
