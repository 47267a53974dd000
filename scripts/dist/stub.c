/* The start of the one-file release: unpack the program once into the data folder, then run it.
 *
 * The release file is this stub followed by a zlib stream of the program folder (PyInstaller's
 * one-folder build: the program and its _internal/) and a fixed trailer (see pack.py):
 *
 *   offset u64 | size u64 | crc32 u32 | entries u32 | id char[64] | magic "VGRUN001"
 *
 * The folder goes to <data>/runtime/<id>/ (<data>: $VG_INSTANCE_PATH, else villagegrid-data/
 * beside this file; id: version and a hash of the payload). It is written under a temporary
 * name, checked (the stream's own Adler-32, the CRC-32 of the compressed bytes, the number of
 * entries), flushed to disk, marked complete and renamed into place in one step, so a folder
 * under its final name is always whole. Every later start only sees that the folder is there
 * and runs the program in it: no unpacking at each start (PyInstaller's one-file mode unpacks
 * everything into /tmp each time, about a second of CPU). Several copies starting at once each
 * unpack into their own temporary folder; the first rename wins, the others use it.
 *
 * The program gets this file's path in VG_RELEASE_FILE (the data folder lies beside it, and
 * install-service names it in the unit). Messages are in Chinese, like the program's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "VGRUN001"
#define TRAILER_SIZE 96
#define CHUNK (1 << 18)
#define DATA_FOLDER "villagegrid-data"
#define PROGRAM "villagegrid"
#define COMPLETE ".complete"
/* exit codes as in app/core/release.py: 2 the data folder cannot be written */
#define NOT_WRITABLE 2
#define BROKEN 1

static char self[PATH_MAX];

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("错误：", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static const char *reason(int err)
{
    return err == ENOSPC ? "磁盘已满" : strerror(err);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct trailer {
    uint64_t offset, size;
    uint32_t crc, entries;
    char id[65];
};

static void read_trailer(int fd, struct trailer *t)
{
    unsigned char buf[TRAILER_SIZE];
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < TRAILER_SIZE || pread(fd, buf, TRAILER_SIZE, end - TRAILER_SIZE) != TRAILER_SIZE ||
        memcmp(buf + 88, MAGIC, 8) != 0)
        die(BROKEN, "程序文件 %s 不完整或已损坏（找不到程序数据），请重新复制一份完整的程序文件。", self);
    t->offset = le64(buf);
    t->size = le64(buf + 8);
    t->crc = le32(buf + 16);
    t->entries = le32(buf + 20);
    memcpy(t->id, buf + 24, 64);
    t->id[64] = '\0';
    if (t->offset + t->size + TRAILER_SIZE != (uint64_t)end || !t->id[0] || strchr(t->id, '/'))
        die(BROKEN, "程序文件 %s 不完整或已损坏（长度不对），请重新复制一份完整的程序文件。", self);
}

/* --- the data folder -------------------------------------------------------------- */

static void data_folder(char *out, size_t n)
{
    const char *env = getenv("VG_INSTANCE_PATH");
    int len;
    if (env && *env) {
        char cwd[PATH_MAX];
        if (env[0] == '/' || !getcwd(cwd, sizeof cwd))
            len = snprintf(out, n, "%s", env);
        else
            len = snprintf(out, n, "%s/%s", cwd, env);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", self);
        char *slash = strrchr(dir, '/');
        *slash = '\0';
        len = snprintf(out, n, "%s/%s", *dir ? dir : "", DATA_FOLDER);
    }
    if (len < 0 || (size_t)len >= n - 200) /* room for runtime/<id>/... below it */
        die(NOT_WRITABLE, "数据目录的路径太长。");
}

static void private_dir(const char *path, const char *data)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return;
    die(NOT_WRITABLE, "数据目录 %s 无法创建或写入（%s）。请检查它的所有者和权限，"
        "或用环境变量 VG_INSTANCE_PATH 指定另一个可写的目录。", data, strerror(errno));
}

/* mkdir -p for the data folder itself (its parent may be missing, as os.makedirs allows) */
static void make_data_folder(const char *data)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", data);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            int err = errno;
            *p = '/';
            die(NOT_WRITABLE, "数据目录 %s 无法创建或写入（%s）。请检查它的所有者和权限，"
                "或用环境变量 VG_INSTANCE_PATH 指定另一个可写的目录。", data, strerror(err));
        }
        *p = '/';
    }
    private_dir(path, data);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- unpacking --------------------------------------------------------------------- */

struct stream {
    int fd;
    uint64_t next, left; /* the compressed bytes still to read from the file */
    uint32_t crc;
    z_stream z;
    unsigned char in[CHUNK];
    int ended;
};

static char partial[PATH_MAX * 2]; /* removed when unpacking fails */

static void fail_unpack(int code, const char *what, int err)
{
    if (partial[0])
        remove_tree(partial);
    if (err)
        die(code, "无法把程序解压到数据目录（%s：%s）。请腾出磁盘空间或检查权限后再启动。", what, reason(err));
    die(code, "程序文件 %s 不完整或已损坏（%s），请重新复制一份完整的程序文件。", self, what);
}

/* more compressed bytes from the file when the ones read are used up */
static void refill(struct stream *s)
{
    if (s->z.avail_in > 0 || s->left == 0)
        return;
    size_t want = s->left < CHUNK ? s->left : CHUNK;
    ssize_t got = pread(s->fd, s->in, want, s->next);
    if (got <= 0)
        fail_unpack(BROKEN, "读取失败", 0);
    s->crc = crc32(s->crc, s->in, got);
    s->next += got;
    s->left -= got;
    s->z.next_in = s->in;
    s->z.avail_in = got;
}

/* exactly n bytes of the unpacked stream into buf */
static void take(struct stream *s, void *buf, size_t n)
{
    s->z.next_out = buf;
    s->z.avail_out = n;
    while (s->z.avail_out > 0) {
        if (s->ended)
            fail_unpack(BROKEN, "数据提前结束", 0);
        refill(s);
        int rc = inflate(&s->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            s->ended = 1;
        else if (rc != Z_OK)
            fail_unpack(BROKEN, "数据校验失败", 0);
    }
}

static void unpack(int fd, const struct trailer *t, const char *dest)
{
    static struct stream s;
    static unsigned char buf[CHUNK];
    char path[PATH_MAX * 4], name[PATH_MAX];
    s.fd = fd;
    s.next = t->offset;
    s.left = t->size;
    s.crc = crc32(0, Z_NULL, 0);
    if (inflateInit(&s.z) != Z_OK)
        fail_unpack(BROKEN, "zlib", 0);
    if (mkdir(dest, 0700) != 0)
        fail_unpack(NOT_WRITABLE, dest, errno);
    for (uint32_t count = 0;; count++) {
        unsigned char head[17];
        take(&s, head, sizeof head);
        char type = (char)head[0];
        uint32_t mode = le32(head + 1) & 07777, len = le32(head + 5);
        uint64_t size = le64(head + 9);
        if (type == 'e') {
            if (count != t->entries)
                fail_unpack(BROKEN, "文件数不对", 0);
            break;
        }
        if (len == 0 || len >= sizeof name)
            fail_unpack(BROKEN, "文件名不对", 0);
        take(&s, name, len);
        name[len] = '\0';
        if (name[0] == '/' || strstr(name, "..") || memchr(name, '\0', len))
            fail_unpack(BROKEN, "文件名不对", 0);
        snprintf(path, sizeof path, "%s/%s", dest, name);
        if (type == 'd') {
            if (mkdir(path, mode | 0700) != 0)
                fail_unpack(NOT_WRITABLE, path, errno);
        } else if (type == 'l') {
            char target[PATH_MAX];
            if (size >= sizeof target)
                fail_unpack(BROKEN, "链接不对", 0);
            take(&s, target, size);
            target[size] = '\0';
            if (symlink(target, path) != 0)
                fail_unpack(NOT_WRITABLE, path, errno);
        } else if (type == 'f') {
            int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode | 0600);
            if (out < 0)
                fail_unpack(NOT_WRITABLE, path, errno);
            while (size > 0) {
                size_t n = size < CHUNK ? size : CHUNK;
                take(&s, buf, n);
                for (size_t done = 0; done < n;) {
                    ssize_t w = write(out, buf + done, n - done);
                    if (w < 0)
                        fail_unpack(NOT_WRITABLE, path, errno);
                    done += w;
                }
                size -= n;
            }
            if (close(out) != 0)
                fail_unpack(NOT_WRITABLE, path, errno);
        } else {
            fail_unpack(BROKEN, "未知的条目", 0);
        }
    }
    /* the stream ends right after the last entry (zlib checks its Adler-32 there) */
    while (!s.ended) {
        unsigned char extra;
        refill(&s);
        s.z.next_out = &extra;
        s.z.avail_out = 1;
        int rc = inflate(&s.z, Z_NO_FLUSH);
        if (s.z.avail_out == 0 || (rc != Z_OK && rc != Z_STREAM_END))
            fail_unpack(BROKEN, "数据校验失败", 0);
        s.ended = rc == Z_STREAM_END;
    }
    if (s.left != 0 || s.z.avail_in != 0 || s.crc != t->crc)
        fail_unpack(BROKEN, "数据校验失败", 0);
    inflateEnd(&s.z);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void mark_complete(const char *dest, const char *id)
{
    char path[PATH_MAX * 3];
    snprintf(path, sizeof path, "%s/%s", dest, COMPLETE);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_unpack(NOT_WRITABLE, path, errno);
    /* everything unpacked is on disk before the folder is marked whole and renamed */
    if (syncfs(fd) != 0 || dprintf(fd, "%s\n", id) < 0 || fsync(fd) != 0 || close(fd) != 0)
        fail_unpack(NOT_WRITABLE, path, errno);
}

int main(int argc, char **argv)
{
    (void)argc;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        die(BROKEN, "无法确定程序文件的位置（/proc 未挂载？）。");
    self[n] = '\0';
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(BROKEN, "无法读取程序文件 %s（%s）。", self, strerror(errno));
    struct trailer t;
    read_trailer(fd, &t);

    char data[PATH_MAX], runtime[PATH_MAX + 16], dest[PATH_MAX * 2], complete[PATH_MAX * 3], program[PATH_MAX * 3];
    data_folder(data, sizeof data);
    snprintf(runtime, sizeof runtime, "%s/runtime", data);
    snprintf(dest, sizeof dest, "%s/%s", runtime, t.id);
    snprintf(complete, sizeof complete, "%s/%s", dest, COMPLETE);
    snprintf(program, sizeof program, "%s/%s", dest, PROGRAM);

    if (!exists(complete)) {
        struct timespec began, ended;
        clock_gettime(CLOCK_MONOTONIC, &began);
        make_data_folder(data);
        private_dir(runtime, data);
        fprintf(stderr, "首次运行这个版本：把程序解压到 %s …\n", dest);
        snprintf(partial, sizeof partial, "%s/.partial-%s-%d", runtime, t.id, (int)getpid());
        remove_tree(partial);
        unpack(fd, &t, partial);
        mark_complete(partial, t.id);
        if (rename(partial, dest) != 0) {
            int err = errno;
            if ((err == EEXIST || err == ENOTEMPTY) && exists(complete))
                remove_tree(partial); /* another copy unpacked it at the same moment */
            else
                fail_unpack(NOT_WRITABLE, dest, err);
        }
        partial[0] = '\0';
        clock_gettime(CLOCK_MONOTONIC, &ended);
        fprintf(stderr, "解压完成（%.1f 秒），以后启动直接运行。\n",
                (ended.tv_sec - began.tv_sec) + (ended.tv_nsec - began.tv_nsec) / 1e9);
    }
    close(fd);
    if (setenv("VG_RELEASE_FILE", self, 1) != 0)
        die(BROKEN, "环境变量设置失败。");
    argv[0] = program;
    execv(program, argv);
    die(BROKEN, "无法运行 %s（%s）。数据目录所在的文件系统可能不允许运行程序（noexec）："
        "请用环境变量 VG_INSTANCE_PATH 指定另一个目录。", program, strerror(errno));
}
