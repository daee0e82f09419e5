/* checks.c: what a program checks before it loads data or trains, so that a
 * bad path is a usage error at once rather than a failure after training
 * (see common.h). The paths are the user's: nothing here creates, removes or
 * follows anything in the user's directories, and nothing blocks (a FIFO
 * given as an input or an output is refused, not waited on). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ex_check_dir(const char *dir, char *msg, size_t len) {
    struct stat st;
    if (!dir || !*dir) {
        snprintf(msg, len, "no directory given");
        return -1;
    }
    if (stat(dir, &st) != 0) {
        snprintf(msg, len, "directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, len, "'%s' is not a directory", dir);
        return -1;
    }
    return 0;
}

const char *ex_file_kind(unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO (named pipe)";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
    }
}

/* The directory part of path ("." when there is none) in buf. */
static void dir_of(const char *path, char *buf, size_t len) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, len, ".");
    else if (slash == path) snprintf(buf, len, "/");
    else snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

static int check_out(const char *path, int no_link, char *msg, size_t len) {
    struct stat st;
    if (!path || !*path) {
        snprintf(msg, len, "no file name given");
        return -1;
    }
    if (no_link && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        snprintf(msg, len, "'%s' is a symbolic link; not replaced (give the file it points to)", path);
        return -1;
    }
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            snprintf(msg, len, "'%s' is %s, not a regular file", path, ex_file_kind(st.st_mode));
            return -1;
        }
        if (access(path, W_OK) != 0) {
            snprintf(msg, len, "cannot write '%s': %s", path, strerror(errno));
            return -1;
        }
    } else if (errno != ENOENT) {
        snprintf(msg, len, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    /* A new file (or the atomic save's temporary) is made in its directory. */
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
        int e = errno;
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) e = ENOTDIR;
        snprintf(msg, len, "cannot write '%s' (directory '%s': %s)", path, dir, strerror(e));
        return -1;
    }
    return 0;
}

int ex_check_writable(const char *path, char *msg, size_t len) { return check_out(path, 0, msg, len); }

int ex_check_save(const char *path, char *msg, size_t len) { return check_out(path, 1, msg, len); }

FILE *ex_open_input(const char *path, char *msg, size_t len) {
    if (!path || !*path) {
        snprintf(msg, len, "no file name given");
        return NULL;
    }
    /* O_NONBLOCK: opening a FIFO with no writer would wait forever. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, len, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (fstat(fd, &st) == 0) snprintf(msg, len, "'%s' is %s, not a regular file", path, ex_file_kind(st.st_mode));
        else snprintf(msg, len, "cannot stat '%s': %s", path, strerror(e));
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        snprintf(msg, len, "cannot read '%s': %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(msg, len, "cannot read '%s': %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

int ex_check_input(const char *path, char *msg, size_t len) {
    FILE *f = ex_open_input(path, msg, len);
    if (!f) return -1;
    fclose(f);
    return 0;
}
