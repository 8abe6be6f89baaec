/* vfctl: the operator's command line.
 *   vfctl migrate [--dir DIR]
 *   vfctl user add NAME [--role admin]        (password on standard input)
 *   vfctl token create NAME [--label L]       (prints the token once)
 *   vfctl token revoke TOKEN|-                (- reads the token from standard input)
 *   vfctl token revoke --user NAME            (every token of the user)
 *   vfctl generate [--semi] [--user NAME] [--wait] TOPIC
 *   vfctl jobs [--limit N] */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "db/jobs.h"
#include "script/options.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: vfctl migrate [--dir DIR]\n"
            "       vfctl user add NAME [--role admin]   (password on standard input)\n"
            "       vfctl token create NAME [--label LABEL]\n"
            "       vfctl token revoke TOKEN|-   (- reads it from standard input)\n"
            "       vfctl token revoke --user NAME\n"
            "       vfctl generate [--semi] [--user NAME] [--wait] TOPIC\n"
            "       vfctl jobs [--limit N]\n");
    return 2;
}

static const char *opt_value(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 0; i < argc - 1; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

static int has_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static void default_sql_dir(char *out, size_t outlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(out, outlen, "%s/../sql", dirname(exe));
        if (access(out, R_OK) == 0)
            return;
    }
    snprintf(out, outlen, "/usr/local/share/vf/sql");
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 16u << 20);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, n) != 0)
            break;
    fclose(f);
    return buf_take(&b);
}

static int cmd_migrate(struct db *db, const char *dir)
{
    static const char create[] =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(64) NOT NULL PRIMARY KEY, "
        "applied_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3)) ENGINE=InnoDB";
    static const char lock[] = "SELECT GET_LOCK('vf_migrate', 60)";
    static const char applied[] = "SELECT 1 FROM schema_migrations WHERE version = ?";
    static const char record[] = "INSERT INTO schema_migrations (version) VALUES (?)";
    struct vf_err err = {0};
    struct db_result r;
    if (db_exec(db, create, NULL, 0, NULL, NULL, &err) != VF_OK ||
        db_query(db, lock, NULL, 0, &r, &err) != VF_OK) {
        fprintf(stderr, "vfctl: migrate: %s\n", err.text);
        return 1;
    }
    db_result_free(&r);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "vfctl: migrate: cannot open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
    int rc = 0, count = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char version[64];
        snprintf(version, sizeof(version), "%.*s", (int)strlen(names[i]) - 4, names[i]);
        struct db_param p[] = {DB_STR(version)};
        if (db_query(db, applied, p, 1, &r, &err) != VF_OK) {
            fprintf(stderr, "vfctl: migrate: %s\n", err.text);
            rc = 1;
            break;
        }
        int done = r.nrows > 0;
        db_result_free(&r);
        if (done)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        char *sql = slurp(path);
        if (!sql || db_exec_script(db, sql, &err) != VF_OK ||
            db_exec(db, record, p, 1, NULL, NULL, &err) != VF_OK) {
            fprintf(stderr, "vfctl: migrate: %s: %s\n", names[i], sql ? err.text : strerror(errno));
            rc = 1;
        } else {
            printf("applied %s\n", version);
            count++;
        }
        free(sql);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    if (rc == 0)
        printf("schema up to date (%d applied now)\n", count);
    return rc;
}

static int cmd_user_add(struct db *db, const char *name, const char *role)
{
    char pw[1100];
    if (!fgets(pw, sizeof(pw), stdin)) {
        fprintf(stderr, "vfctl: give the password on standard input\n");
        return 1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    struct vf_err err = {0};
    enum vf_rc rc = auth_user_add(db, name, pw, role, &err);
    memset(pw, 0, sizeof(pw));
    if (rc != VF_OK) {
        fprintf(stderr, "vfctl: user add: %s\n", err.text);
        return 1;
    }
    printf("user %s added (%s)\n", name, role);
    return 0;
}

static int cmd_token_create(struct db *db, const char *name, const char *label)
{
    char secret[AUTH_SECRET_HEX_LEN + 1];
    struct vf_err err = {0};
    if (auth_token_create(db, name, label, secret, &err) != VF_OK) {
        fprintf(stderr, "vfctl: token create: %s\n", err.text);
        return 1;
    }
    printf("%s\n", secret);
    return 0;
}

static int cmd_token_revoke(struct db *db, const char *token, const char *user)
{
    struct vf_err err = {0};
    if (user) {
        long long n = 0;
        if (auth_token_revoke_user(db, user, &n, &err) != VF_OK) {
            fprintf(stderr, "vfctl: token revoke: %s\n", err.text);
            return 1;
        }
        printf("%lld token(s) of %s revoked\n", n, user);
        return 0;
    }
    char line[AUTH_SECRET_HEX_LEN + 8];
    if (strcmp(token, "-") == 0) {
        if (!fgets(line, sizeof(line), stdin)) {
            fprintf(stderr, "vfctl: give the token on standard input\n");
            return 1;
        }
        line[strcspn(line, "\r\n")] = '\0';
        token = line;
    }
    if (auth_token_revoke(db, token, &err) != VF_OK) {
        fprintf(stderr, "vfctl: token revoke: %s\n", err.text);
        return 1;
    }
    printf("token revoked\n");
    return 0;
}

static long long user_id_by_name(struct db *db, const char *name)
{
    static const char sql[] = "SELECT id FROM users WHERE username = ?";
    struct db_param p[] = {DB_STR(name)};
    struct db_result r;
    struct vf_err err = {0};
    if (db_query(db, sql, p, 1, &r, &err) != VF_OK)
        return 0;
    long long id = db_cell_int(&r, 0, 0, 0);
    db_result_free(&r);
    return id;
}

static int cmd_generate(struct db *db, const struct vf_config *cfg, int semi, const char *user,
                        int wait, const char *topic)
{
    long long uid = user_id_by_name(db, user);
    if (!uid) {
        fprintf(stderr, "vfctl: no user called %s\n", user);
        return 1;
    }
    struct job_options opt;
    job_options_defaults(&opt, cfg);
    json_t *o = job_options_to_json(&opt);
    char *otext = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    long long id = 0;
    struct vf_err err = {0};
    enum vf_rc rc = jobs_create(db, uid, semi ? JOB_SEMI : JOB_FULL, topic, otext, &id, &err);
    free(otext);
    if (rc != VF_OK) {
        fprintf(stderr, "vfctl: generate: %s\n", err.text);
        return 1;
    }
    printf("job %lld created\n", id);
    if (!wait)
        return 0;
    enum job_state last = JS_IDLE;
    for (;;) {
        struct job j;
        if (jobs_get(db, id, -1, &j, &err) != VF_OK) {
            fprintf(stderr, "vfctl: generate: %s\n", err.text);
            return 1;
        }
        if (j.state != last) {
            printf("job %lld: %s\n", id, job_state_name(j.state));
            last = j.state;
        }
        int done = job_state_is_terminal(j.state) || j.state == JS_SCRIPT_READY ||
                   j.state == JS_VIDEO_READY;
        int failed = j.state == JS_FAILED;
        if (failed)
            fprintf(stderr, "job %lld failed in %s: %s\n", id, job_step_name(j.error_step),
                    j.error_message ? j.error_message : "");
        if (done && j.has_video)
            printf("video: %s/%s\n", cfg->local_store_dir, j.video_key);
        job_free(&j);
        if (done)
            return failed ? 1 : 0;
        usleep(500 * 1000);
    }
}

static int cmd_jobs(struct db *db, int limit)
{
    struct job *jobs = NULL;
    int n = 0;
    struct vf_err err = {0};
    if (jobs_list(db, -1, -1, 0, limit, &jobs, &n, &err) != VF_OK) {
        fprintf(stderr, "vfctl: jobs: %s\n", err.text);
        return 1;
    }
    printf("%-8s %-5s %-18s %-10s %s\n", "ID", "MODE", "STATE", "OWNER", "TOPIC");
    for (int i = 0; i < n; i++) {
        printf("%-8lld %-5s %-18s %-10s %s\n", jobs[i].id, job_mode_name(jobs[i].mode),
               job_state_name(jobs[i].state), jobs[i].owner_name, jobs[i].topic);
        job_free(&jobs[i]);
    }
    free(jobs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    struct vf_config cfg;
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "vfctl: %s\n", err);
        return 1;
    }
    (void)log_open(NULL, LOG_WARN);
    mysql_library_init(0, NULL, NULL);
    struct vf_err verr = {0};
    struct db *db = db_open(&cfg, &verr);
    if (!db) {
        fprintf(stderr, "vfctl: %s\n", verr.text);
        config_free(&cfg);
        return 1;
    }
    int rc;
    const char *cmd = argv[1];
    if (strcmp(cmd, "migrate") == 0) {
        char dir[PATH_MAX];
        default_sql_dir(dir, sizeof(dir));
        rc = cmd_migrate(db, opt_value(argc, argv, "--dir", dir));
    } else if (strcmp(cmd, "user") == 0 && argc >= 4 && strcmp(argv[2], "add") == 0) {
        rc = cmd_user_add(db, argv[3], opt_value(argc, argv, "--role", "user"));
    } else if (strcmp(cmd, "token") == 0 && argc >= 4 && strcmp(argv[2], "create") == 0) {
        rc = cmd_token_create(db, argv[3], opt_value(argc, argv, "--label", "vfctl"));
    } else if (strcmp(cmd, "token") == 0 && argc >= 4 && strcmp(argv[2], "revoke") == 0) {
        const char *user = opt_value(argc, argv, "--user", NULL);
        if (!user && strcmp(argv[3], "--user") == 0)
            rc = usage();
        else
            rc = cmd_token_revoke(db, argv[3], user);
    } else if (strcmp(cmd, "generate") == 0 && argc >= 3) {
        rc = cmd_generate(db, &cfg, has_flag(argc, argv, "--semi"),
                          opt_value(argc, argv, "--user", "demo"), has_flag(argc, argv, "--wait"),
                          argv[argc - 1]);
    } else if (strcmp(cmd, "jobs") == 0) {
        long limit = strtol(opt_value(argc, argv, "--limit", "20"), NULL, 10);
        rc = cmd_jobs(db, limit < 1 ? 1 : limit > 1000 ? 1000 : (int)limit);
    } else {
        rc = usage();
    }
    db_close(db);
    mysql_library_end();
    config_free(&cfg);
    return rc;
}
