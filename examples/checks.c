/* checks.c: what a program checks before it loads data or trains, so that a
 * bad path is a usage error at once rather than a failure after training
 * (see common.h). */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int ex_check_writable(const char *path, char *msg, size_t len) {
    struct stat st;
    if (!path || !*path) {
        snprintf(msg, len, "no file name given");
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, len, "'%s' is a directory", path);
        return -1;
    }
    size_t n = strlen(path);
    char *probe = malloc(n + 7);
    if (!probe) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    memcpy(probe, path, n);
    memcpy(probe + n, ".probe", 7);
    FILE *fp = fopen(probe, "wb");
    if (!fp) {
        snprintf(msg, len, "cannot write '%s' (probe file '%s': %s)", path, probe, strerror(errno));
        free(probe);
        return -1;
    }
    fclose(fp);
    remove(probe);
    free(probe);
    return 0;
}
