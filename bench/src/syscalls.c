/* Syscall-heavy microbenchmarks for measuring seccomp overhead: N getppid() calls, or stat()
 * of every entry below a directory, repeated. Prints elapsed nanoseconds on stdout. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long stat_tree(const char *dir) {
    long count = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0) {
            count++;
            if (S_ISDIR(st.st_mode)) count += stat_tree(path);
        }
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s getppid N | stat DIR REPEAT\n", argv[0]);
        return 2;
    }
    long long start = now_ns();
    if (!strcmp(argv[1], "getppid")) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
    } else {
        int repeat = argc > 3 ? atoi(argv[3]) : 1;
        long total = 0;
        for (int i = 0; i < repeat; i++) total += stat_tree(argv[2]);
        if (total == 0) return 1;
    }
    printf("%lld\n", now_ns() - start);
    return 0;
}
