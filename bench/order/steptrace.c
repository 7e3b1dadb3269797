/*
 * Single-step tracer for bench/order/order.sh: runs one stockade command line as an
 * unprivileged user and records every instruction address that any process of the tree
 * executes inside the stockade binary, until that process execs the sandboxed command (or
 * exits). Processes are told apart by their depth in the tree (0 = launcher, 1 = the
 * sandbox's PID 1, 2 = the command before its exec, ...), because each one's resident text
 * counts separately towards the peak RSS.
 *
 * It is run as root so that it is attached before stockade creates its user namespace:
 * children are attached automatically (PTRACE_O_TRACECLONE/FORK/VFORK), which needs no
 * permission check, whatever namespaces they enter.
 *
 * Usage: steptrace USER BINARY OUT ARGS...   (ARGS include argv[0])
 * OUT gets one line per executed address: "DEPTH FIRST_STEP OFFSET" (hex offset from the
 * load base, which is the link-time address in a static-pie binary).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PID (1 << 22)
#define MAX_DEPTH 4

static signed char depth_of[MAX_PID]; /* -1 unknown, -2 detached */
static unsigned char seen_stop[MAX_PID];
static uint32_t *first[MAX_DEPTH];
static uint64_t base, span;

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void find_base(pid_t pid, const char *binary)
{
    char path[64], line[4096], real[4096];
    if (!realpath(binary, real))
        die("realpath");
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps)
        die("maps");
    uint64_t lo = 0, hi = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long long start, end, off;
        char perms[8], file[4096] = "";
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &start, &end, perms, &off, file) < 4)
            continue;
        if (strcmp(file, real) != 0)
            continue;
        if (!lo || start < lo)
            lo = start;
        if (end > hi)
            hi = end;
    }
    fclose(maps);
    if (!lo) {
        fprintf(stderr, "steptrace: %s not mapped\n", real);
        exit(2);
    }
    base = lo;
    span = hi - lo;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: steptrace USER BINARY OUT ARGS...\n");
        return 2;
    }
    struct passwd *pw = getpwnam(argv[1]);
    if (!pw)
        die("getpwnam");
    memset(depth_of, -1, sizeof depth_of);

    pid_t root = fork();
    if (root < 0)
        die("fork");
    if (root == 0) {
        /* ASLR off only so that runs are alike; offsets are taken from the base anyway. */
        personality(ADDR_NO_RANDOMIZE);
        if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
            die("dropping to the user");
        setenv("HOME", pw->pw_dir, 1);
        setenv("USER", pw->pw_name, 1);
        setenv("LOGNAME", pw->pw_name, 1);
        /* Stop before exec so that the parent can set the options first. */
        if (ptrace(PTRACE_TRACEME, 0, 0, 0))
            die("PTRACE_TRACEME");
        raise(SIGSTOP);
        execv(argv[2], argv + 4);
        die("execv");
    }

    int status;
    if (waitpid(root, &status, 0) < 0 || !WIFSTOPPED(status))
        die("waiting for the first stop");
    if (ptrace(PTRACE_SETOPTIONS, root, 0,
               PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                   PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL))
        die("PTRACE_SETOPTIONS");
    /* Run to the exec of stockade without stepping: that is the tracer's own code. */
    if (ptrace(PTRACE_CONT, root, 0, 0))
        die("PTRACE_CONT");
    if (waitpid(root, &status, 0) < 0 || status >> 8 != (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
        fprintf(stderr, "steptrace: no exec stop (status %#x)\n", status);
        return 2;
    }
    find_base(root, argv[2]);
    for (int d = 0; d < MAX_DEPTH; d++) {
        first[d] = calloc(span, sizeof(uint32_t));
        if (!first[d])
            die("calloc");
    }
    depth_of[root] = 0;
    seen_stop[root] = 1;
    uint32_t step = 0;
    int live = 1, exit_code = 0;
    ptrace(PTRACE_SINGLESTEP, root, 0, 0);

    while (live > 0) {
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD)
                break;
            die("waitpid");
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (depth_of[pid] >= 0)
                live--;
            if (pid == root)
                exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            depth_of[pid] = -1;
            continue;
        }
        if (!WIFSTOPPED(status))
            continue;
        int sig = WSTOPSIG(status), event = status >> 16, inject = 0;
        if (depth_of[pid] == -1) {
            /* A new child whose parent's event has not been seen yet: wait for it. */
            seen_stop[pid] = 1;
            continue;
        }
        if (depth_of[pid] == -2)
            continue;
        if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
            event == PTRACE_EVENT_VFORK) {
            unsigned long child;
            ptrace(PTRACE_GETEVENTMSG, pid, 0, &child);
            int d = depth_of[pid] + 1;
            depth_of[child] = d < MAX_DEPTH ? d : MAX_DEPTH - 1;
            live++;
            if (seen_stop[child])
                ptrace(PTRACE_SINGLESTEP, child, 0, 0);
        } else if (event == PTRACE_EVENT_EXEC) {
            /* The command itself: no longer stockade's code. */
            depth_of[pid] = -2;
            live--;
            ptrace(PTRACE_DETACH, pid, 0, 0);
            continue;
        } else if (event) {
            /* other events: just go on */
        } else if (sig == SIGTRAP) {
            struct user_regs_struct regs;
            if (ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0) {
                uint64_t off = regs.rip - base;
                if (off < span) {
                    uint32_t *slot = &first[(int)depth_of[pid]][off];
                    if (!*slot)
                        *slot = ++step;
                }
            }
        } else if (sig == SIGSTOP && !seen_stop[pid]) {
            /* The initial stop of an automatically attached child. */
            seen_stop[pid] = 1;
        } else {
            inject = sig;
        }
        seen_stop[pid] = 1;
        ptrace(PTRACE_SINGLESTEP, pid, 0, inject);
    }

    FILE *out = fopen(argv[3], "w");
    if (!out)
        die(argv[3]);
    for (int d = 0; d < MAX_DEPTH; d++)
        for (uint64_t off = 0; off < span; off++)
            if (first[d][off])
                fprintf(out, "%d %u %llx\n", d, first[d][off], (unsigned long long)off);
    fclose(out);
    fprintf(stderr, "steptrace: %u addresses, exit %d\n", step, exit_code);
    return exit_code;
}
