/* Runs several commands in rounds, one run of each per round with the starting command
 * rotating, and prints each command's median wall time in milliseconds, one line per command
 * in the order given. Interleaving puts this machine's drift (other guests on the host) on
 * every command alike, so differences between the medians hold where separate blocks of runs
 * would not. Output of the commands is discarded; a failing run stops everything.
 *
 * Usage: rounds N CMD [ARG...] [::: CMD [ARG...]]... */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define MAX_CMDS 16
#define WARMUP_ROUNDS 10

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One run of argv with its output discarded; returns its wall time, or -1 when it failed. */
static double run_once(char **argv) {
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    double start = now_ms();
    pid_t pid;
    int status;
    int spawned = posix_spawn(&pid, argv[0], &quiet, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0 || waitpid(pid, &status, 0) < 0) return -1;
    double elapsed = now_ms() - start;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? elapsed : -1;
}

int main(int argc, char **argv) {
    if (argc < 3 || atoi(argv[1]) < 1) {
        fprintf(stderr, "usage: rounds N CMD [ARG...] [::: CMD [ARG...]]...\n");
        return 2;
    }
    int rounds = atoi(argv[1]);
    char **cmds[MAX_CMDS];
    int ncmds = 0;
    cmds[ncmds++] = &argv[2];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], ":::") != 0) continue;
        if (ncmds == MAX_CMDS || i + 1 == argc) {
            fprintf(stderr, "rounds: at most %d commands, none empty\n", MAX_CMDS);
            return 2;
        }
        argv[i] = NULL;
        cmds[ncmds++] = &argv[i + 1];
    }
    double *times = calloc((size_t)ncmds * rounds, sizeof *times);
    if (!times) return 1;
    for (int r = -WARMUP_ROUNDS; r < rounds; r++) {
        for (int k = 0; k < ncmds; k++) {
            int c = (k + (r < 0 ? 0 : r)) % ncmds;
            double ms = run_once(cmds[c]);
            if (ms < 0) {
                fprintf(stderr, "rounds: %s failed\n", cmds[c][0]);
                return 1;
            }
            if (r >= 0) times[(size_t)c * rounds + r] = ms;
        }
    }
    for (int c = 0; c < ncmds; c++) {
        double *t = times + (size_t)c * rounds;
        qsort(t, rounds, sizeof *t, by_value);
        double median = rounds % 2 ? t[rounds / 2] : (t[rounds / 2 - 1] + t[rounds / 2]) / 2;
        printf("%.3f\n", median);
    }
    free(times);
    return 0;
}
