/* The CSV ledger. */
#include "ledger/ledger_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/buf.h"

static const char csv_header[] =
    "job_id,created_at,completed_at,mode,topic,title,video_url,duration_s,size_bytes,width,"
    "height,providers,render_seconds,user\n";

void ledger_csv_field(char *out, size_t outlen, const char *value)
{
    if (!value)
        value = "";
    int formula = value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@';
    int quote = formula || strpbrk(value, ",\"\r\n") != NULL;
    size_t o = 0;
    if (outlen < 4) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    if (quote)
        out[o++] = '"';
    if (formula)
        out[o++] = '\'';
    for (const char *p = value; *p && o + 3 < outlen; p++) {
        if (*p == '"')
            out[o++] = '"';
        out[o++] = (*p == '\r' || *p == '\n') ? ' ' : *p;
    }
    if (quote)
        out[o++] = '"';
    out[o] = '\0';
}

/* Is there a line starting with "<id>,"? The file is read in full; it grows
 * by one short line per video. */
static int csv_has_job(int fd, long long job_id)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "%lld,", job_id);
    FILE *f = fdopen(dup(fd), "r");
    if (!f)
        return 0;
    char line[8192];
    int found = 0, at_line_start = 1;
    while (fgets(line, sizeof(line), f)) {
        if (at_line_start && strncmp(line, prefix, (size_t)plen) == 0) {
            found = 1;
            break;
        }
        at_line_start = strchr(line, '\n') != NULL;
    }
    fclose(f);
    return found;
}

enum vf_rc ledger_csv_append(const char *path, const struct ledger_row *row, int *appended,
                             struct vf_err *err)
{
    *appended = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return vf_fail(err, VF_EPERMANENT, "cannot open the ledger %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        return vf_fail(err, VF_ETRANSIENT, "cannot lock the ledger %s: %s", path, strerror(errno));
    }
    enum vf_rc rc = VF_OK;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size > 0 && csv_has_job(fd, row->job_id))
        goto out;
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (size == 0)
        (void)buf_puts(&b, csv_header);
    char topic[2048], title[1024], url[1024], mode[32], prov[128], user[160];
    ledger_csv_field(topic, sizeof(topic), row->topic);
    ledger_csv_field(title, sizeof(title), row->title);
    ledger_csv_field(url, sizeof(url), row->video_url);
    ledger_csv_field(mode, sizeof(mode), row->mode);
    ledger_csv_field(prov, sizeof(prov), row->providers);
    ledger_csv_field(user, sizeof(user), row->user);
    (void)buf_printf(&b, "%lld,%s,%s,%s,%s,%s,%s,%.3f,%lld,%d,%d,%s,%.3f,%s\n", row->job_id,
                     row->created_at ? row->created_at : "", row->completed_at ? row->completed_at : "",
                     mode, topic, title, url, row->duration_s, row->size_bytes, row->width,
                     row->height, prov, row->render_seconds, user);
    if (!b.data || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) != 0)
        rc = vf_fail(err, VF_ETRANSIENT, "cannot write the ledger %s: %s", path, strerror(errno));
    else
        *appended = 1;
    buf_free(&b);
out:
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}
