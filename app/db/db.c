/* MariaDB connection with a prepared-statement cache and explicit reconnect.
 *
 * MYSQL_OPT_RECONNECT stays off (PROTOCOLS §5.4): a silent reconnect resets
 * every prepared statement and refuses inside a transaction. Instead, a lost
 * connection marks the handle broken; the next call reopens it and prepares
 * statements again, and a statement outside a transaction is retried once. */
#include "db/db.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"

#define DB_STMT_CACHE 64

struct db_stmt_slot {
    const char *sql;
    MYSQL_STMT *stmt;
};

struct db {
    const struct vf_config *cfg;
    MYSQL *conn;
    int broken;
    int in_tx;
    int nstmts;
    struct db_stmt_slot stmts[DB_STMT_CACHE];
};

static int db_errno_is_lost(unsigned e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
           e == CR_CONN_HOST_ERROR || e == CR_SERVER_LOST_EXTENDED || e == CR_STMT_CLOSED ||
           e == ER_CONNECTION_KILLED || e == ER_SERVER_SHUTDOWN || e == 4031 /* idle timeout */ ||
           e == CR_COMMANDS_OUT_OF_SYNC;
}

static enum vf_rc db_classify(struct db *db, unsigned e, const char *msg, struct vf_err *err)
{
    if (db_errno_is_lost(e)) {
        db->broken = 1;
        return vf_fail(err, VF_EDB, "database connection lost: %s", msg);
    }
    if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT)
        return vf_fail(err, VF_ETRANSIENT, "database lock conflict: %s", msg);
    return vf_fail(err, VF_EINVAL, "database error %u: %s", e, msg);
}

static void db_drop_statements(struct db *db)
{
    for (int i = 0; i < db->nstmts; i++)
        mysql_stmt_close(db->stmts[i].stmt);
    db->nstmts = 0;
}

static enum vf_rc db_connect(struct db *db, struct vf_err *err)
{
    const struct vf_config *c = db->cfg;
    if (db->conn) {
        db_drop_statements(db);
        mysql_close(db->conn);
        db->conn = NULL;
    }
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    unsigned timeout = 5, rw_timeout = 30;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    const char *sock = c->db_socket && *c->db_socket ? c->db_socket : NULL;
    if (!mysql_real_connect(m, sock ? NULL : c->db_host, c->db_user, c->db_password, c->db_name,
                            (unsigned)c->db_port, sock, 0)) {
        vf_fail(err, VF_EDB, "cannot connect to the database: %s", mysql_error(m));
        mysql_close(m);
        return VF_EDB;
    }
    db->conn = m;
    db->broken = 0;
    db->in_tx = 0;
    return VF_OK;
}

struct db *db_open(const struct vf_config *cfg, struct vf_err *err)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db) {
        vf_fail(err, VF_ENOMEM, "out of memory");
        return NULL;
    }
    db->cfg = cfg;
    if (db_connect(db, err) != VF_OK) {
        free(db);
        return NULL;
    }
    return db;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    db_drop_statements(db);
    if (db->conn)
        mysql_close(db->conn);
    free(db);
}

static enum vf_rc db_ready(struct db *db, struct vf_err *err)
{
    if (db->broken || !db->conn)
        return db_connect(db, err);
    return VF_OK;
}

static enum vf_rc db_prepare(struct db *db, const char *sql, MYSQL_STMT **out, struct vf_err *err)
{
    for (int i = 0; i < db->nstmts; i++) {
        if (db->stmts[i].sql == sql || strcmp(db->stmts[i].sql, sql) == 0) {
            *out = db->stmts[i].stmt;
            return VF_OK;
        }
    }
    MYSQL_STMT *st = mysql_stmt_init(db->conn);
    if (!st)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        enum vf_rc rc = db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
        mysql_stmt_close(st);
        return rc;
    }
    if (db->nstmts == DB_STMT_CACHE) {
        /* Full: evict the oldest; statements are cheap to prepare again. */
        mysql_stmt_close(db->stmts[0].stmt);
        memmove(&db->stmts[0], &db->stmts[1], sizeof(db->stmts[0]) * (DB_STMT_CACHE - 1));
        db->nstmts--;
    }
    db->stmts[db->nstmts].sql = sql;
    db->stmts[db->nstmts].stmt = st;
    db->nstmts++;
    *out = st;
    return VF_OK;
}

static void db_bind_params(MYSQL_BIND *b, const struct db_param *p, int n, unsigned long *lens)
{
    static my_bool is_null = 1;
    memset(b, 0, sizeof(*b) * (size_t)n);
    for (int i = 0; i < n; i++) {
        switch (p[i].type) {
        case DBP_NULL:
            b[i].buffer_type = MYSQL_TYPE_NULL;
            b[i].is_null = &is_null;
            break;
        case DBP_INT:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&p[i].i;
            break;
        case DBP_DOUBLE:
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = (void *)&p[i].d;
            break;
        case DBP_STR:
            lens[i] = p[i].len ? (unsigned long)p[i].len : (unsigned long)strlen(p[i].s);
            b[i].buffer_type = MYSQL_TYPE_STRING;
            b[i].buffer = (void *)p[i].s;
            b[i].buffer_length = lens[i];
            b[i].length = &lens[i];
            break;
        }
    }
}

static enum vf_rc db_fetch_all(struct db *db, MYSQL_STMT *st, struct db_result *res,
                               struct vf_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    if (!meta)
        return VF_OK;
    int ncols = (int)mysql_num_fields(meta);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    int nrows = (int)mysql_stmt_num_rows(st);
    enum vf_rc rc = VF_OK;
    MYSQL_BIND *rb = calloc((size_t)ncols, sizeof(*rb));
    unsigned long *rlen = calloc((size_t)ncols, sizeof(*rlen));
    my_bool *rnull = calloc((size_t)ncols, sizeof(*rnull));
    res->cells = calloc((size_t)(nrows * ncols) + 1, sizeof(char *));
    res->lens = calloc((size_t)(nrows * ncols) + 1, sizeof(unsigned long));
    if (!rb || !rlen || !rnull || !res->cells || !res->lens) {
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
        goto out;
    }
    res->ncols = ncols;
    for (int c = 0; c < ncols; c++) {
        unsigned long cap = fields[c].max_length > 64 ? fields[c].max_length : 64;
        rb[c].buffer_type = MYSQL_TYPE_STRING;
        rb[c].buffer = malloc(cap + 1);
        rb[c].buffer_length = cap + 1;
        rb[c].length = &rlen[c];
        rb[c].is_null = &rnull[c];
        if (!rb[c].buffer) {
            rc = vf_fail(err, VF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (mysql_stmt_bind_result(st, rb) != 0) {
        rc = db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
        goto out;
    }
    for (int r = 0; r < nrows; r++) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            rc = db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
            goto out;
        }
        for (int c = 0; c < ncols; c++) {
            if (rnull[c])
                continue;
            char *cell = malloc(rlen[c] + 1);
            if (!cell) {
                rc = vf_fail(err, VF_ENOMEM, "out of memory");
                goto out;
            }
            if (rlen[c] < rb[c].buffer_length) {
                memcpy(cell, rb[c].buffer, rlen[c]);
            } else {
                MYSQL_BIND one = {0};
                one.buffer_type = MYSQL_TYPE_STRING;
                one.buffer = cell;
                one.buffer_length = rlen[c] + 1;
                if (mysql_stmt_fetch_column(st, &one, (unsigned)c, 0) != 0) {
                    free(cell);
                    rc = db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
                    goto out;
                }
            }
            cell[rlen[c]] = '\0';
            res->cells[r * ncols + c] = cell;
            res->lens[r * ncols + c] = rlen[c];
        }
        res->nrows = r + 1;
    }
out:
    if (rb)
        for (int c = 0; c < ncols; c++)
            free(rb[c].buffer);
    free(rb);
    free(rlen);
    free(rnull);
    mysql_free_result(meta);
    mysql_stmt_free_result(st);
    return rc;
}

static enum vf_rc db_run_once(struct db *db, const char *sql, const struct db_param *params,
                              int nparams, uint64_t *affected, uint64_t *insert_id,
                              struct db_result *res, struct vf_err *err)
{
    enum vf_rc rc = db_ready(db, err);
    if (rc != VF_OK)
        return rc;
    MYSQL_STMT *st = NULL;
    rc = db_prepare(db, sql, &st, err);
    if (rc != VF_OK)
        return rc;
    MYSQL_BIND pb[32];
    unsigned long plen[32];
    if (nparams > 32)
        return vf_fail(err, VF_EINVAL, "too many statement parameters");
    if (nparams > 0) {
        db_bind_params(pb, params, nparams, plen);
        if (mysql_stmt_bind_param(st, pb) != 0)
            return db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
    }
    if (res) {
        my_bool update_max = 1;
        mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max);
    }
    if (mysql_stmt_execute(st) != 0)
        return db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
    if (res) {
        if (mysql_stmt_store_result(st) != 0)
            return db_classify(db, mysql_stmt_errno(st), mysql_stmt_error(st), err);
        rc = db_fetch_all(db, st, res, err);
        if (rc != VF_OK) {
            db_result_free(res);
            return rc;
        }
    }
    if (affected)
        *affected = mysql_stmt_affected_rows(st);
    if (insert_id)
        *insert_id = mysql_stmt_insert_id(st);
    if (!res)
        mysql_stmt_free_result(st);
    return VF_OK;
}

static enum vf_rc db_run(struct db *db, const char *sql, const struct db_param *params,
                         int nparams, uint64_t *affected, uint64_t *insert_id,
                         struct db_result *res, struct vf_err *err)
{
    if (res)
        memset(res, 0, sizeof(*res));
    enum vf_rc rc = db_run_once(db, sql, params, nparams, affected, insert_id, res, err);
    /* One retry on a lost connection, never inside a transaction: the
     * transaction's earlier statements died with the connection. */
    if (rc == VF_EDB && !db->in_tx)
        rc = db_run_once(db, sql, params, nparams, affected, insert_id, res, err);
    if (rc == VF_EDB)
        db->in_tx = 0;
    return rc;
}

enum vf_rc db_exec(struct db *db, const char *sql, const struct db_param *params, int nparams,
                   uint64_t *affected, uint64_t *insert_id, struct vf_err *err)
{
    return db_run(db, sql, params, nparams, affected, insert_id, NULL, err);
}

enum vf_rc db_query(struct db *db, const char *sql, const struct db_param *params, int nparams,
                    struct db_result *res, struct vf_err *err)
{
    return db_run(db, sql, params, nparams, NULL, NULL, res, err);
}

void db_result_free(struct db_result *res)
{
    if (res->cells)
        for (int i = 0; i < res->nrows * res->ncols; i++)
            free(res->cells[i]);
    free(res->cells);
    free(res->lens);
    memset(res, 0, sizeof(*res));
}

const char *db_cell(const struct db_result *res, int row, int col)
{
    if (row < 0 || row >= res->nrows || col < 0 || col >= res->ncols)
        return NULL;
    return res->cells[row * res->ncols + col];
}

long long db_cell_int(const struct db_result *res, int row, int col, long long dflt)
{
    const char *s = db_cell(res, row, col);
    if (!s)
        return dflt;
    return strtoll(s, NULL, 10);
}

static enum vf_rc db_simple(struct db *db, const char *sql, struct vf_err *err)
{
    enum vf_rc rc = db_ready(db, err);
    if (rc != VF_OK)
        return rc;
    if (mysql_query(db->conn, sql) != 0)
        return db_classify(db, mysql_errno(db->conn), mysql_error(db->conn), err);
    return VF_OK;
}

enum vf_rc db_begin(struct db *db, int read_committed, struct vf_err *err)
{
    enum vf_rc rc;
    if (read_committed) {
        rc = db_simple(db, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", err);
        if (rc != VF_OK)
            return rc;
    }
    rc = db_simple(db, "START TRANSACTION", err);
    if (rc == VF_OK)
        db->in_tx = 1;
    return rc;
}

enum vf_rc db_commit(struct db *db, struct vf_err *err)
{
    enum vf_rc rc = db_simple(db, "COMMIT", err);
    db->in_tx = 0;
    return rc;
}

void db_rollback(struct db *db)
{
    struct vf_err ignored;
    if (db->conn && !db->broken)
        (void)db_simple(db, "ROLLBACK", &ignored);
    db->in_tx = 0;
}

enum vf_rc db_exec_script(struct db *db, const char *sql, struct vf_err *err)
{
    enum vf_rc rc = db_ready(db, err);
    if (rc != VF_OK)
        return rc;
    mysql_set_server_option(db->conn, MYSQL_OPTION_MULTI_STATEMENTS_ON);
    rc = VF_OK;
    if (mysql_query(db->conn, sql) != 0) {
        rc = db_classify(db, mysql_errno(db->conn), mysql_error(db->conn), err);
    } else {
        do {
            MYSQL_RES *r = mysql_store_result(db->conn);
            if (r)
                mysql_free_result(r);
        } while (mysql_next_result(db->conn) == 0);
        if (mysql_errno(db->conn))
            rc = db_classify(db, mysql_errno(db->conn), mysql_error(db->conn), err);
    }
    if (!db->broken)
        mysql_set_server_option(db->conn, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
    return rc;
}

enum vf_rc db_ping(struct db *db, struct vf_err *err)
{
    enum vf_rc rc = db_ready(db, err);
    if (rc != VF_OK)
        return rc;
    if (mysql_ping(db->conn) != 0) {
        db->broken = 1;
        return db_connect(db, err);
    }
    return VF_OK;
}
