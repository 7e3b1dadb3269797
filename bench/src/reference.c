/* The kernel's floor for a stockade plan: the namespaces, mounts, loopback, capability drop,
 * PID 1 and seccomp filter of a `stockade run`, done by the least C code that does them, so
 * that the benchmark can tell stockade's own overhead from the kernel work its profile asks
 * for. (unshare -Urmpfiun is the floor of the namespaces alone; a profile's mounts cost more
 * than that by themselves.)
 *
 * It reads the bubblewrap command line that `stockade run --print-bwrap` prints, restricted to
 * what the built-in profiles use, plus --seccomp-file PATH (the BPF that `stockade seccomp
 * export` writes). It checks nothing a benchmark does not need: no path resolution inside the
 * new root, no error recovery, no signal forwarding. Not a sandbox; do not use it as one.
 *
 * Usage: reference [--unshare-{user,pid,uts,ipc,net}] [--ro-bind[-try] SRC DEST]...
 *        [--symlink TARGET LINK]... [--proc DEST] [--dev DEST] [--perms MODE] [--tmpfs DEST]...
 *        [--remount-ro /] [--die-with-parent] [--new-session] [--seccomp-file PATH] -- CMD ARGS */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where the new root is built: any existing directory serves in a private mount namespace. */
#define NEW_ROOT "/tmp"
#define MAX_OPS 256

enum kind { RO_BIND, RO_BIND_TRY, SYMLINK, PROC, DEV, TMPFS, REMOUNT_RO };
struct op {
    enum kind kind;
    const char *a, *b;
    unsigned mode;
};

static void die(const char *what) {
    fprintf(stderr, "reference: %s: %s\n", what, strerror(errno));
    exit(125);
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) die(path);
    close(fd);
}

/* DEST inside the new root. */
static const char *inside(const char *dest, char *buf, size_t len) {
    snprintf(buf, len, NEW_ROOT "%s", dest);
    return buf;
}

static void make_parents(char *path) {
    for (char *p = path + strlen(NEW_ROOT) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
}

/* A mount point of the source's kind: a directory for a directory, an empty file otherwise. */
static void make_mount_point(char *path, int directory) {
    make_parents(path);
    int ret = directory ? mkdir(path, 0755) : mknod(path, S_IFREG | 0644, 0);
    if (ret != 0 && errno != EEXIST) die(path);
}

static void bind_read_only(const char *src, char *dest, int try) {
    struct stat st;
    if (stat(src, &st) != 0) {
        if (try) return;
        die(src);
    }
    make_mount_point(dest, S_ISDIR(st.st_mode));
    if (mount(src, dest, NULL, MS_BIND | MS_REC, NULL) != 0) die(dest);
    if (mount(NULL, dest, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
        die(dest);
}

static void new_tmpfs(char *dest, unsigned mode, unsigned long flags) {
    char options[32];
    snprintf(options, sizeof options, "mode=%o", mode);
    make_mount_point(dest, 1);
    if (mount("tmpfs", dest, "tmpfs", flags, options) != 0) die(dest);
}

/* bubblewrap's --dev: a tmpfs, the harmless host nodes, a private devpts, shm and links. */
static void minimal_dev(char *dest) {
    static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *links[][2] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                                     {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                                     {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"}};
    char path[4096 + 64], src[64];
    new_tmpfs(dest, 0755, MS_NOSUID | MS_NODEV);
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        snprintf(path, sizeof path, "%s/%s", dest, nodes[i]);
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        make_mount_point(path, 0);
        if (mount(src, path, NULL, MS_BIND, NULL) != 0) die(path);
    }
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        snprintf(path, sizeof path, "%s/%s", dest, links[i][1]);
        if (symlink(links[i][0], path) != 0) die(path);
    }
    snprintf(path, sizeof path, "%s/pts", dest);
    make_mount_point(path, 1);
    if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"))
        die(path);
    snprintf(path, sizeof path, "%s/shm", dest);
    if (mkdir(path, 01777) != 0) die(path);
}

static void build_root(const struct op *ops, int n) {
    char path[4096];
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) die("making / a slave");
    if (mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) die("root");
    umask(0);
    for (int i = 0; i < n; i++) {
        const struct op *op = &ops[i];
        switch (op->kind) {
        case RO_BIND:
        case RO_BIND_TRY:
            bind_read_only(op->a, (char *)inside(op->b, path, sizeof path), op->kind == RO_BIND_TRY);
            break;
        case SYMLINK:
            inside(op->b, path, sizeof path);
            make_parents(path);
            if (symlink(op->a, path) != 0) die(path);
            break;
        case PROC:
            make_mount_point((char *)inside(op->a, path, sizeof path), 1);
            if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die(path);
            break;
        case DEV:
            minimal_dev((char *)inside(op->a, path, sizeof path));
            break;
        case TMPFS:
            new_tmpfs((char *)inside(op->a, path, sizeof path), op->mode, MS_NOSUID | MS_NODEV);
            break;
        case REMOUNT_RO:
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        if (ops[i].kind != REMOUNT_RO) continue;
        if (mount(NULL, NEW_ROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                  NULL) != 0)
            die("remount-ro /");
    }
    if (chdir(NEW_ROOT) != 0 || syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
    if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) die("detaching the old root");
}

static void loopback_up(void) {
    struct ifreq ifr = {0};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    strcpy(ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) die("lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) die("lo up");
    close(fd);
}

static void drop_capabilities(void) {
    for (int cap = 0; prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0; cap++) {
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capset, &header, data) != 0) die("capset");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
}

/* Read before the root changes: the file is a host path. */
static struct sock_fprog load_filter(const char *path) {
    static struct sock_filter insns[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, insns, sizeof insns);
    if (len <= 0 || len % sizeof *insns) die(path);
    close(fd);
    return (struct sock_fprog){(unsigned short)(len / sizeof *insns), insns};
}

/* PID 1: the command runs as its child; PID 1 reaps until it ends and returns its status. */
static int run_under_init(char **command, struct sock_fprog *filter) {
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        if (filter && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) != 0)
            die("seccomp");
        execvp(command[0], command);
        die(command[0]);
    }
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (pid == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (pid < 0 && errno != EINTR) die("wait");
    }
}

static int parse(int argc, char **argv, struct op *ops, int *n, int *flags, int *die_with_parent,
                 int *new_session, const char **filter) {
    unsigned perms = 0755;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        int left = argc - i - 1;
        if (*n == MAX_OPS) return -1;
        struct op *op = &ops[*n];
        if (!strcmp(a, "--unshare-user")) *flags |= CLONE_NEWUSER;
        else if (!strcmp(a, "--unshare-pid")) *flags |= CLONE_NEWPID;
        else if (!strcmp(a, "--unshare-uts")) *flags |= CLONE_NEWUTS;
        else if (!strcmp(a, "--unshare-ipc")) *flags |= CLONE_NEWIPC;
        else if (!strcmp(a, "--unshare-net")) *flags |= CLONE_NEWNET;
        else if (!strcmp(a, "--die-with-parent")) *die_with_parent = 1;
        else if (!strcmp(a, "--new-session")) *new_session = 1;
        else if (!strcmp(a, "--seccomp-file") && left >= 1) *filter = argv[++i];
        else if (!strcmp(a, "--perms") && left >= 1) perms = strtoul(argv[++i], NULL, 8);
        else if ((!strcmp(a, "--ro-bind") || !strcmp(a, "--ro-bind-try") || !strcmp(a, "--symlink"))
                 && left >= 2) {
            *op = (struct op){!strcmp(a, "--symlink") ? SYMLINK
                              : !strcmp(a, "--ro-bind") ? RO_BIND : RO_BIND_TRY,
                              argv[i + 1], argv[i + 2], 0};
            ++*n;
            i += 2;
        } else if ((!strcmp(a, "--proc") || !strcmp(a, "--dev") || !strcmp(a, "--tmpfs")
                    || !strcmp(a, "--remount-ro")) && left >= 1) {
            *op = (struct op){!strcmp(a, "--proc") ? PROC : !strcmp(a, "--dev") ? DEV
                              : !strcmp(a, "--tmpfs") ? TMPFS : REMOUNT_RO,
                              argv[++i], NULL, perms};
            ++*n;
            perms = 0755;
        } else {
            fprintf(stderr, "reference: unsupported option %s\n", a);
            return -1;
        }
    }
    return i + 1 < argc ? i + 1 : -1;
}

int main(int argc, char **argv) {
    static struct op ops[MAX_OPS];
    int n = 0, flags = CLONE_NEWNS, die_with_parent = 0, new_session = 0;
    const char *filter = NULL;
    int first = parse(argc, argv, ops, &n, &flags, &die_with_parent, &new_session, &filter);
    if (first < 0) {
        fprintf(stderr, "usage: reference BWRAP-OPTIONS... -- CMD [ARG...]\n");
        return 2;
    }
    struct sock_fprog prog;
    if (filter) prog = load_filter(filter);
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64];
    if (unshare(flags) != 0) die("unshare");
    if (flags & CLONE_NEWUSER) {
        write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof map, "%u %u 1", uid, uid);
        write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof map, "%u %u 1", gid, gid);
        write_file("/proc/self/gid_map", map);
    }
    pid_t init = fork();
    if (init < 0) die("fork");
    if (init > 0) {
        int status;
        if (waitpid(init, &status, 0) < 0) die("waitpid");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (die_with_parent) prctl(PR_SET_PDEATHSIG, SIGKILL);
    build_root(ops, n);
    if (flags & CLONE_NEWNET) loopback_up();
    if (new_session) setsid();
    syscall(SYS_close_range, 3, ~0U, 0);
    drop_capabilities();
    return run_under_init(&argv[first], filter ? &prog : NULL);
}
