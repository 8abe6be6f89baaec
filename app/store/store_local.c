/* The local store: a folder nginx serves through its internal /media/ location. */
#include "store/store_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_mkdirs(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int key_is_safe(const char *key)
{
    return key[0] != '/' && !strstr(key, "..") && !strstr(key, "//");
}

/* Opens a temp file beside the final path; the caller renames it into place. */
static enum vf_rc open_target(const char *root, const char *key, char *final, char *tmp,
                              int *fd, struct vf_err *err)
{
    if (!key_is_safe(key))
        return vf_fail(err, VF_EINVAL, "unsafe store key %s", key);
    if (snprintf(final, PATH_MAX, "%s/%s", root, key) >= PATH_MAX)
        return vf_fail(err, VF_EINVAL, "store path too long");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", final);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (store_mkdirs(dir) != 0)
        return vf_fail(err, VF_EPERMANENT, "cannot create the store folder %s: %s", dir,
                       strerror(errno));
    if (snprintf(tmp, PATH_MAX, "%s.tmp.%d", final, (int)getpid()) >= PATH_MAX)
        return vf_fail(err, VF_EINVAL, "store path too long");
    *fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (*fd < 0)
        return vf_fail(err, errno == ENOSPC ? VF_ETRANSIENT : VF_EPERMANENT,
                       "cannot write to the store (%s): %s", tmp, strerror(errno));
    return VF_OK;
}

static enum vf_rc finish_target(int fd, const char *final, const char *tmp, int write_failed,
                                struct vf_err *err)
{
    int saved = errno;
    if (!write_failed && fsync(fd) != 0) {
        write_failed = 1;
        saved = errno;
    }
    close(fd);
    if (write_failed || rename(tmp, final) != 0) {
        if (!write_failed)
            saved = errno;
        unlink(tmp);
        return vf_fail(err, saved == ENOSPC ? VF_ETRANSIENT : VF_EPERMANENT,
                       "cannot write %s to the store: %s", final, strerror(saved));
    }
    return VF_OK;
}

enum vf_rc store_local_put_bytes(const char *root, const char *key, const void *data, size_t len,
                                 struct vf_err *err)
{
    char final[PATH_MAX], tmp[PATH_MAX];
    int fd;
    enum vf_rc rc = open_target(root, key, final, tmp, &fd, err);
    if (rc != VF_OK)
        return rc;
    const char *p = data;
    int failed = 0;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            failed = 1;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    return finish_target(fd, final, tmp, failed, err);
}

enum vf_rc store_local_put_file(const char *root, const char *key, const char *path,
                                struct vf_err *err)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return vf_fail(err, VF_EPERMANENT, "cannot read %s: %s", path, strerror(errno));
    char final[PATH_MAX], tmp[PATH_MAX];
    int fd;
    enum vf_rc rc = open_target(root, key, final, tmp, &fd, err);
    if (rc != VF_OK) {
        close(in);
        return rc;
    }
    char chunk[1 << 16];
    int failed = 0;
    for (;;) {
        ssize_t n = read(in, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            failed = n < 0;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, chunk + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                failed = 1;
                break;
            }
            off += w;
        }
        if (failed)
            break;
    }
    close(in);
    return finish_target(fd, final, tmp, failed, err);
}

enum vf_rc store_local_delete_job(const char *root, long long job_id, struct vf_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/jobs/%lld", root, job_id);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? VF_OK
                               : vf_fail(err, VF_EPERMANENT, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
    return VF_OK;
}
