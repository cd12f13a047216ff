/* The recording half of the crash-state simulator (tests/crash_states.rs): an LD_PRELOAD
 * library that sees every write and every barrier a process issues on two files, data.mdb
 * and the store's flush mark, and appends them, in the order they happened, to a trace file.
 *
 *   TTLKV_CRASH_TARGET  path of data.mdb (it may not exist yet: it is recognised by device
 *                       and inode after each successful open)
 *   TTLKV_CRASH_MARK    path of flush.mark (optional; recognised the same way: the library
 *                       creates it with O_CREAT, so the path is looked at after every
 *                       successful open until it names the descriptor just opened)
 *   TTLKV_CRASH_TRACE   path of the trace written here
 *
 * Only the workload child is started with this library; the test harness never is.
 *
 * What is recorded (little-endian records, see struct rec):
 *   WRITE    pwrite, pwrite64, pwritev*, write, writev on a descriptor of the file: offset and
 *            the bytes that were written. A write on a descriptor opened with O_DSYNC/O_SYNC
 *            (LMDB's meta-page descriptor in sync mode) is marked: it is on disk when it
 *            returns, together with the rest of the pages it touches. A write on the flush
 *            mark is recorded the same way at offset MARK_BASE + its offset in the mark: one
 *            trace, one offset space, the mark a page of its own far beyond any page of
 *            data.mdb. Mark writes never enter the shadow (below) nor any checkpoint.
 *   MAPPED   a 4 KiB page whose content changed without a write(2): stores through a writable
 *            shared map (LMDB's MDB_WRITEMAP). The library keeps a shadow copy of the file,
 *            updated by every recorded write, and compares the file with it at each
 *            checkpoint: before every barrier, every lock operation on the file (ttlkv takes
 *            and releases its writer lock on data.mdb around each write transaction, so each
 *            commit ends in a checkpoint), every unmap, every note, and at exit. Outside
 *            write_map a MAPPED record means a write escaped the interposition: the test
 *            fails on it.
 *   BARRIER  fsync, fdatasync, msync(MS_SYNC), sync_file_range(..WAIT_AFTER), syncfs, sync,
 *            appended when the call returned; `c` is the number of records that existed when
 *            the call began: only those are covered (a write racing the barrier is not).
 *            Which pages it covers: on data.mdb, the range given (b == 0: every page of
 *            data.mdb, none of the mark); on the mark (fsync, fdatasync), exactly the mark's
 *            page, a = MARK_BASE, b = PAGE (sync_file_range: MARK_BASE + its range); syncfs
 *            and sync (flags B_SYNCFS, b == 0) cover both files, whatever descriptor.
 *   SIZE     data.mdb's length after ftruncate, posix_fallocate or fallocate. The mark's
 *            length is not modelled (one 512-byte write at offset 0 gives it): a length change
 *            of the mark is an ESCAPE.
 *   NOTE     a line from the workload (ttlkv_crash_note): which operation began, which was
 *            acknowledged, so that acknowledgements are ordered against the writes.
 *   ESCAPE   something the model cannot represent (a hole punched into the file, a failed
 *            trace write, a write to data.mdb at or past MARK_BASE; on the mark, with
 *            a = MARK_BASE: content there before the trace, a truncation, an allocation, a
 *            writable shared map): the test fails on it rather than trusting a partial trace.
 *
 * Built by the test at -Wall -Wextra -Werror; no dependency but libc and libdl.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096u
#define MAX_FDS 65536
#define MAX_MAPS 64
/* Where the flush mark's bytes go in the trace's one offset space: 1 TiB, far past any
 * data.mdb a test makes. Must equal MARK_BASE in tests/crash/sim.rs. */
#define MARK_BASE ((uint64_t)1 << 40)

enum kind { K_WRITE = 1, K_MAPPED = 2, K_BARRIER = 3, K_SIZE = 4, K_NOTE = 5, K_ESCAPE = 6 };
enum wflag { W_DSYNC = 1 };
enum bflag { B_FSYNC = 1, B_FDATASYNC = 2, B_MSYNC = 3, B_SYNC_FILE_RANGE = 4, B_SYNCFS = 5 };

/* One record: this header, then `len` bytes of payload. For WRITE and MAPPED, a is the
 * offset (MARK_BASE + offset for the mark). For BARRIER, a/b are the covered byte range
 * (b == 0: all of data.mdb, or with B_SYNCFS both files) and c the number of records it
 * covers. */
struct rec {
  uint32_t kind;
  uint32_t flags;
  uint64_t a;
  uint64_t b;
  uint64_t c;
  uint64_t len;
};

struct map {
  uintptr_t addr;
  size_t len;
  off_t off;
  int writable;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int trace_fd = -1;
static int own_fd = -1; /* our read-only descriptor on the target, for checkpoints */
static int enabled;
static int have_id;
static dev_t target_dev;
static ino_t target_ino;
static const char *target_path;
static int have_mark_id;
static dev_t mark_dev;
static ino_t mark_ino;
static const char *mark_path; /* NULL: no mark watched */
static int mark_written;      /* a mark write is in the trace */
static uint64_t nrec;
/* Per descriptor: 0 (neither file), or FD_TARGET or FD_MARK, with FD_DSYNC when opened
 * with O_DSYNC/O_SYNC. */
enum fdflag { FD_TARGET = 1, FD_MARK = 2, FD_DSYNC = 4 };
static unsigned char fds[MAX_FDS];
static struct map maps[MAX_MAPS];
static unsigned char *shadow;
static size_t shadow_len, shadow_cap;

#define REAL(ret, name, ...)                                   \
  static ret (*real_##name)(__VA_ARGS__);                      \
  static void resolve_##name(void) {                           \
    if (!real_##name)                                          \
      *(void **)(&real_##name) = dlsym(RTLD_NEXT, #name);      \
  }

REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(int, __open_2, const char *, int)
REAL(int, __open64_2, const char *, int)
REAL(int, close, int)
REAL(int, dup, int)
REAL(int, dup2, int, int)
REAL(int, dup3, int, int, int)
REAL(int, fcntl, int, int, ...)
REAL(int, fcntl64, int, int, ...)
REAL(ssize_t, write, int, const void *, size_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
REAL(ssize_t, writev, int, const struct iovec *, int)
REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t)
REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
REAL(ssize_t, pread, int, void *, size_t, off_t)
REAL(int, fsync, int)
REAL(int, fdatasync, int)
REAL(int, msync, void *, size_t, int)
REAL(int, sync_file_range, int, off64_t, off64_t, unsigned int)
REAL(int, syncfs, int)
REAL(void, sync, void)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off64_t)
REAL(int, posix_fallocate, int, off_t, off_t)
REAL(int, posix_fallocate64, int, off64_t, off64_t)
REAL(int, fallocate, int, int, off_t, off_t)
REAL(int, fallocate64, int, int, off64_t, off64_t)
REAL(void *, mmap, void *, size_t, int, int, int, off_t)
REAL(void *, mmap64, void *, size_t, int, int, int, off64_t)
REAL(int, munmap, void *, size_t)
REAL(void *, mremap, void *, size_t, size_t, int, ...)

static void put_all(const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    resolve_write();
    ssize_t w = real_write(trace_fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      /* A trace with a hole would be trusted by the parent: stop the workload instead. */
      static const char msg[] = "crash shim: cannot write the trace\n";
      ssize_t ignored = real_write(2, msg, sizeof msg - 1);
      (void)ignored;
      abort();
    }
    c += w;
    n -= (size_t)w;
  }
}

/* Appends one record (lock held). Payload: `iov` (may be NULL) limited to `len` bytes. */
static void emit(uint32_t kind, uint32_t flags, uint64_t a, uint64_t b, uint64_t c,
                 const struct iovec *iov, int iovcnt, uint64_t len) {
  struct rec r = {kind, flags, a, b, c, len};
  put_all(&r, sizeof r);
  uint64_t left = len;
  for (int i = 0; i < iovcnt && left > 0; i++) {
    size_t n = iov[i].iov_len < left ? iov[i].iov_len : (size_t)left;
    put_all(iov[i].iov_base, n);
    left -= n;
  }
  nrec++;
}

static int grow_shadow(size_t len) {
  if (len <= shadow_cap)
    return 0;
  size_t cap = shadow_cap ? shadow_cap : (1u << 20);
  while (cap < len)
    cap *= 2;
  unsigned char *s = realloc(shadow, cap);
  if (!s)
    return -1;
  memset(s + shadow_cap, 0, cap - shadow_cap);
  shadow = s;
  shadow_cap = cap;
  return 0;
}

/* Keeps the shadow equal to what the trace says the file holds (lock held). */
static void shadow_write(uint64_t off, const struct iovec *iov, int iovcnt, uint64_t len) {
  if (grow_shadow((size_t)(off + len)) != 0) {
    emit(K_ESCAPE, 0, off, len, 0, NULL, 0, 0);
    return;
  }
  uint64_t left = len, at = off;
  for (int i = 0; i < iovcnt && left > 0; i++) {
    size_t n = iov[i].iov_len < left ? iov[i].iov_len : (size_t)left;
    memcpy(shadow + at, iov[i].iov_base, n);
    at += n;
    left -= n;
  }
  if (off + len > shadow_len)
    shadow_len = (size_t)(off + len);
}

static void shadow_size(uint64_t len) {
  if (len < shadow_len && len <= shadow_cap)
    memset(shadow + len, 0, shadow_len - (size_t)len);
  else if (grow_shadow((size_t)len) != 0)
    emit(K_ESCAPE, 0, len, 0, 0, NULL, 0, 0);
  shadow_len = (size_t)len;
}

/* Compares the file with the shadow and records every page that changed behind our back
 * (lock held). */
static void checkpoint(void) {
  if (own_fd < 0)
    return;
  struct stat st;
  if (fstat(own_fd, &st) != 0)
    return;
  size_t size = (size_t)st.st_size;
  if (grow_shadow(size) != 0) {
    emit(K_ESCAPE, 0, size, 0, 0, NULL, 0, 0);
    return;
  }
  static unsigned char buf[1u << 20];
  resolve_pread();
  size_t base = 0;
  while (base < size) {
    size_t want = size - base < sizeof buf ? size - base : sizeof buf;
    ssize_t got = real_pread(own_fd, buf, want, (off_t)base);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    for (size_t p = 0; p < (size_t)got; p += PAGE) {
      size_t n = (size_t)got - p < PAGE ? (size_t)got - p : PAGE;
      if (memcmp(buf + p, shadow + base + p, n) != 0) {
        struct iovec v = {buf + p, n};
        emit(K_MAPPED, 0, base + p, 0, 0, &v, 1, n);
        memcpy(shadow + base + p, buf + p, n);
      }
    }
    base += (size_t)got;
  }
  if (size > shadow_len)
    shadow_len = size;
}

static int is_target(int fd) {
  return enabled && fd >= 0 && fd < MAX_FDS && (fds[fd] & FD_TARGET);
}

static int is_mark(int fd) { return enabled && fd >= 0 && fd < MAX_FDS && (fds[fd] & FD_MARK); }

/* Either file: its writes are recorded. */
static int is_watched(int fd) { return enabled && fd >= 0 && fd < MAX_FDS && fds[fd]; }

/* After a successful open: is this descriptor one of the watched files? */
static void opened(int fd, int flags) {
  if (!enabled || fd < 0 || fd >= MAX_FDS)
    return;
  struct stat st;
  if (fstat(fd, &st) != 0)
    return;
  pthread_mutex_lock(&lock);
  if (mark_path && !have_mark_id) {
    struct stat t;
    if (stat(mark_path, &t) == 0 && t.st_dev == st.st_dev && t.st_ino == st.st_ino) {
      have_mark_id = 1;
      mark_dev = t.st_dev;
      mark_ino = t.st_ino;
      /* The trace starts from an empty store: a mark already holding bytes is not in it. */
      if (st.st_size != 0)
        emit(K_ESCAPE, 0, MARK_BASE, (uint64_t)st.st_size, 0, NULL, 0, 0);
    }
  }
  if (!have_id) {
    struct stat t;
    if (stat(target_path, &t) == 0 && t.st_dev == st.st_dev && t.st_ino == st.st_ino) {
      have_id = 1;
      target_dev = t.st_dev;
      target_ino = t.st_ino;
      resolve_open();
      own_fd = real_open(target_path, O_RDONLY | O_CLOEXEC);
      /* The trace starts from an empty file: anything already in it is not in the trace. */
      emit(K_SIZE, 1, (uint64_t)st.st_size, 0, 0, NULL, 0, 0);
      shadow_size((uint64_t)st.st_size);
      checkpoint();
    }
  }
  unsigned char dsync = (flags & O_DSYNC) ? FD_DSYNC : 0;
  if (have_id && st.st_dev == target_dev && st.st_ino == target_ino) {
    fds[fd] = FD_TARGET | dsync;
  } else if (have_mark_id && st.st_dev == mark_dev && st.st_ino == mark_ino) {
    fds[fd] = FD_MARK | dsync;
    /* Re-opening with O_TRUNC emptied a mark the trace has bytes for. */
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && mark_written)
      emit(K_ESCAPE, 0, MARK_BASE, 0, 0, NULL, 0, 0);
  } else {
    fds[fd] = 0;
  }
  pthread_mutex_unlock(&lock);
}

static void forget(int fd) {
  if (fd >= 0 && fd < MAX_FDS)
    fds[fd] = 0;
}

static void duped(int from, int to) {
  if (to >= 0 && to < MAX_FDS && from >= 0 && from < MAX_FDS)
    fds[to] = fds[from];
}

__attribute__((constructor)) static void init(void) {
  const char *trace = getenv("TTLKV_CRASH_TRACE");
  target_path = getenv("TTLKV_CRASH_TARGET");
  mark_path = getenv("TTLKV_CRASH_MARK");
  if (mark_path && !*mark_path)
    mark_path = NULL;
  if (!trace || !target_path)
    return;
  resolve_open();
  trace_fd = real_open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (trace_fd < 0) {
    perror("crash shim: opening the trace");
    abort();
  }
  enabled = 1;
}

__attribute__((destructor)) static void fini(void) {
  if (!enabled)
    return;
  pthread_mutex_lock(&lock);
  checkpoint();
  pthread_mutex_unlock(&lock);
}

/* The workload's notes, ordered against the writes. Returns the note's record index. */
int64_t ttlkv_crash_note(const char *text, size_t len) {
  if (!enabled)
    return -1;
  pthread_mutex_lock(&lock);
  checkpoint();
  struct iovec v = {(void *)text, len};
  int64_t at = (int64_t)nrec;
  emit(K_NOTE, 0, 0, 0, 0, &v, 1, len);
  pthread_mutex_unlock(&lock);
  return at;
}

/* ---- opens, closes, duplicates ---- */

static mode_t mode_arg(int flags, va_list ap) {
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
    return (mode_t)va_arg(ap, int);
  return 0;
}

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  resolve_open();
  int fd = real_open(path, flags, mode);
  opened(fd, flags);
  return fd;
}

int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  resolve_open64();
  int fd = real_open64(path, flags, mode);
  opened(fd, flags);
  return fd;
}

int openat(int dir, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  resolve_openat();
  int fd = real_openat(dir, path, flags, mode);
  opened(fd, flags);
  return fd;
}

int openat64(int dir, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  resolve_openat64();
  int fd = real_openat64(dir, path, flags, mode);
  opened(fd, flags);
  return fd;
}

int __open_2(const char *path, int flags) {
  resolve___open_2();
  int fd = real___open_2(path, flags);
  opened(fd, flags);
  return fd;
}

int __open64_2(const char *path, int flags) {
  resolve___open64_2();
  int fd = real___open64_2(path, flags);
  opened(fd, flags);
  return fd;
}

int close(int fd) {
  resolve_close();
  if (is_target(fd)) {
    pthread_mutex_lock(&lock);
    checkpoint();
    forget(fd);
    pthread_mutex_unlock(&lock);
  } else if (fd >= 0 && fd < MAX_FDS) {
    fds[fd] = 0;
  }
  return real_close(fd);
}

int dup(int fd) {
  resolve_dup();
  int to = real_dup(fd);
  if (to >= 0)
    duped(fd, to);
  return to;
}

int dup2(int fd, int to) {
  resolve_dup2();
  int r = real_dup2(fd, to);
  if (r >= 0)
    duped(fd, r);
  return r;
}

int dup3(int fd, int to, int flags) {
  resolve_dup3();
  int r = real_dup3(fd, to, flags);
  if (r >= 0)
    duped(fd, r);
  return r;
}

/* Every fcntl argument is an int or a pointer; both travel in one register-sized slot. */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg) {
  if (is_target(fd) && (cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK ||
                        cmd == F_OFD_SETLKW)) {
    /* ttlkv's writer lock is taken and released around each write transaction: a commit
     * through the map is complete when the lock is released. */
    pthread_mutex_lock(&lock);
    checkpoint();
    pthread_mutex_unlock(&lock);
  }
  int r = real(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
    duped(fd, r);
  return r;
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  resolve_fcntl();
  return fcntl_common(real_fcntl, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  resolve_fcntl64();
  resolve_fcntl();
  return fcntl_common(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, arg);
}

/* ---- writes ---- */

/* A write to the file runs under the lock and is recorded before the lock is released, so a
 * checkpoint (from another thread: the expiry thread's flush) never sees its bytes in the file
 * before its record is in the trace. The lock is not held across barriers. A write to the
 * mark goes to MARK_BASE + off, and not into the shadow (the checkpoints read data.mdb). */
static void wrote(int fd, uint64_t off, const struct iovec *iov, int iovcnt, ssize_t n,
                  int dsync) {
  if (n <= 0)
    return;
  uint32_t flags = ((fds[fd] & FD_DSYNC) || dsync) ? W_DSYNC : 0;
  if (fds[fd] & FD_MARK) {
    emit(K_WRITE, flags, MARK_BASE + off, 0, 0, iov, iovcnt, (uint64_t)n);
    mark_written = 1;
    return;
  }
  if (off + (uint64_t)n > MARK_BASE) {
    /* data.mdb reaching the mark's offsets: the two files would be confused. */
    emit(K_ESCAPE, 0, off, (uint64_t)n, 0, NULL, 0, 0);
    return;
  }
  emit(K_WRITE, flags, off, 0, 0, iov, iovcnt, (uint64_t)n);
  shadow_write(off, iov, iovcnt, (uint64_t)n);
}

/* Offset-less writes: the offset is read before the call. Neither file is opened with
 * O_APPEND, and one writer at a time uses a descriptor's offset (LMDB's lseek + writev). */
static uint64_t here(int fd) {
  off_t at = lseek(fd, 0, SEEK_CUR);
  return at < 0 ? 0 : (uint64_t)at;
}

ssize_t write(int fd, const void *buf, size_t n) {
  resolve_write();
  if (!is_watched(fd))
    return real_write(fd, buf, n);
  pthread_mutex_lock(&lock);
  uint64_t off = here(fd);
  ssize_t r = real_write(fd, buf, n);
  int e = errno;
  struct iovec v = {(void *)buf, n};
  wrote(fd, off, &v, 1, r, 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  resolve_pwrite();
  if (!is_watched(fd))
    return real_pwrite(fd, buf, n, off);
  pthread_mutex_lock(&lock);
  ssize_t r = real_pwrite(fd, buf, n, off);
  int e = errno;
  struct iovec v = {(void *)buf, n};
  wrote(fd, (uint64_t)off, &v, 1, r, 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  resolve_pwrite64();
  if (!is_watched(fd))
    return real_pwrite64(fd, buf, n, off);
  pthread_mutex_lock(&lock);
  ssize_t r = real_pwrite64(fd, buf, n, off);
  int e = errno;
  struct iovec v = {(void *)buf, n};
  wrote(fd, (uint64_t)off, &v, 1, r, 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  resolve_writev();
  if (!is_watched(fd))
    return real_writev(fd, iov, cnt);
  pthread_mutex_lock(&lock);
  uint64_t off = here(fd);
  ssize_t r = real_writev(fd, iov, cnt);
  int e = errno;
  wrote(fd, off, iov, cnt, r, 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  resolve_pwritev();
  if (!is_watched(fd))
    return real_pwritev(fd, iov, cnt, off);
  pthread_mutex_lock(&lock);
  ssize_t r = real_pwritev(fd, iov, cnt, off);
  int e = errno;
  wrote(fd, (uint64_t)off, iov, cnt, r, 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off) {
  resolve_pwritev64();
  if (!is_watched(fd))
    return real_pwritev64(fd, iov, cnt, off);
  pthread_mutex_lock(&lock);
  ssize_t r = real_pwritev64(fd, iov, cnt, off);
  int e = errno;
  wrote(fd, (uint64_t)off, iov, cnt, r, 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
  resolve_pwritev2();
  if (!is_watched(fd))
    return real_pwritev2(fd, iov, cnt, off, flags);
  pthread_mutex_lock(&lock);
  uint64_t at = off == -1 ? here(fd) : (uint64_t)off;
  ssize_t r = real_pwritev2(fd, iov, cnt, off, flags);
  int e = errno;
  /* RWF_DSYNC/RWF_SYNC make this one write synchronous. */
  wrote(fd, at, iov, cnt, r, (flags & (RWF_DSYNC | RWF_SYNC)) != 0);
  pthread_mutex_unlock(&lock);
  errno = e;
  return r;
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags) {
  return pwritev2(fd, iov, cnt, (off_t)off, flags);
}

/* ---- barriers ---- */

static uint64_t before_barrier(void) {
  pthread_mutex_lock(&lock);
  checkpoint();
  uint64_t covers = nrec;
  pthread_mutex_unlock(&lock);
  return covers;
}

static void barrier(uint32_t how, uint64_t start, uint64_t len, uint64_t covers) {
  pthread_mutex_lock(&lock);
  emit(K_BARRIER, how, start, len, covers, NULL, 0, 0);
  pthread_mutex_unlock(&lock);
}

/* On data.mdb: all of it (b == 0, which the model reads as data.mdb's pages only); on the
 * mark: exactly the mark's page. */
int fsync(int fd) {
  resolve_fsync();
  if (!is_watched(fd))
    return real_fsync(fd);
  int mark = is_mark(fd);
  uint64_t covers = before_barrier();
  int r = real_fsync(fd);
  if (r == 0)
    barrier(B_FSYNC, mark ? MARK_BASE : 0, mark ? PAGE : 0, covers);
  return r;
}

int fdatasync(int fd) {
  resolve_fdatasync();
  if (!is_watched(fd))
    return real_fdatasync(fd);
  int mark = is_mark(fd);
  uint64_t covers = before_barrier();
  int r = real_fdatasync(fd);
  if (r == 0)
    barrier(B_FDATASYNC, mark ? MARK_BASE : 0, mark ? PAGE : 0, covers);
  return r;
}

/* The file offset of a mapped address, or -1 when it is not in a map of the file. */
static int64_t mapped_offset(uintptr_t addr) {
  for (int i = 0; i < MAX_MAPS; i++)
    if (maps[i].len && addr >= maps[i].addr && addr < maps[i].addr + maps[i].len)
      return (int64_t)(maps[i].off + (off_t)(addr - maps[i].addr));
  return -1;
}

int msync(void *addr, size_t len, int flags) {
  resolve_msync();
  int64_t off = enabled ? mapped_offset((uintptr_t)addr) : -1;
  if (off < 0 || !(flags & MS_SYNC))
    return real_msync(addr, len, flags);
  uint64_t covers = before_barrier();
  int r = real_msync(addr, len, flags);
  if (r == 0)
    barrier(B_MSYNC, (uint64_t)off, len ? len : 1, covers);
  return r;
}

int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags) {
  resolve_sync_file_range();
  if (!is_watched(fd) || !(flags & SYNC_FILE_RANGE_WAIT_AFTER))
    return real_sync_file_range(fd, off, n, flags);
  int mark = is_mark(fd);
  uint64_t covers = before_barrier();
  int r = real_sync_file_range(fd, off, n, flags);
  /* n == 0 means "to the end of the file": for the mark, its one page (never b == 0, which
   * would mean data.mdb). */
  if (r == 0 && mark)
    barrier(B_SYNC_FILE_RANGE, MARK_BASE + (uint64_t)off, n == 0 ? PAGE : (uint64_t)n, covers);
  else if (r == 0)
    barrier(B_SYNC_FILE_RANGE, (uint64_t)off, n == 0 ? 0 : (uint64_t)n, covers);
  return r;
}

/* The whole filesystem, taken to hold both files (they share the store's directory): B_SYNCFS
 * with b == 0 covers data.mdb and the mark. */
int syncfs(int fd) {
  resolve_syncfs();
  if (!enabled || !have_id)
    return real_syncfs(fd);
  uint64_t covers = before_barrier();
  int r = real_syncfs(fd);
  if (r == 0)
    barrier(B_SYNCFS, 0, 0, covers);
  return r;
}

void sync(void) {
  resolve_sync();
  if (!enabled || !have_id) {
    real_sync();
    return;
  }
  uint64_t covers = before_barrier();
  real_sync();
  barrier(B_SYNCFS, 0, 0, covers);
}

/* ---- the file's length ---- */

/* data.mdb: a SIZE record. The mark: an ESCAPE (its length is not modelled). */
static void resized(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return;
  pthread_mutex_lock(&lock);
  if (fds[fd] & FD_MARK) {
    emit(K_ESCAPE, 0, MARK_BASE, (uint64_t)st.st_size, 0, NULL, 0, 0);
  } else {
    emit(K_SIZE, 0, (uint64_t)st.st_size, 0, 0, NULL, 0, 0);
    shadow_size((uint64_t)st.st_size);
  }
  pthread_mutex_unlock(&lock);
}

int ftruncate(int fd, off_t len) {
  resolve_ftruncate();
  int r = real_ftruncate(fd, len);
  if (r == 0 && is_watched(fd))
    resized(fd);
  return r;
}

int ftruncate64(int fd, off64_t len) {
  resolve_ftruncate64();
  int r = real_ftruncate64(fd, len);
  if (r == 0 && is_watched(fd))
    resized(fd);
  return r;
}

int posix_fallocate(int fd, off_t off, off_t len) {
  resolve_posix_fallocate();
  int r = real_posix_fallocate(fd, off, len);
  if (r == 0 && is_watched(fd))
    resized(fd);
  return r;
}

int posix_fallocate64(int fd, off64_t off, off64_t len) {
  resolve_posix_fallocate64();
  int r = real_posix_fallocate64(fd, off, len);
  if (r == 0 && is_watched(fd))
    resized(fd);
  return r;
}

static int fallocated(int fd, int mode, uint64_t off, uint64_t len, int r) {
  if (r == 0 && is_watched(fd)) {
    if ((mode & ~FALLOC_FL_KEEP_SIZE) && is_target(fd)) {
      /* Punching or zeroing changes content the model does not track. */
      pthread_mutex_lock(&lock);
      emit(K_ESCAPE, (uint32_t)mode, off, len, 0, NULL, 0, 0);
      pthread_mutex_unlock(&lock);
    }
    resized(fd);
  }
  return r;
}

int fallocate(int fd, int mode, off_t off, off_t len) {
  resolve_fallocate();
  return fallocated(fd, mode, (uint64_t)off, (uint64_t)len, real_fallocate(fd, mode, off, len));
}

int fallocate64(int fd, int mode, off64_t off, off64_t len) {
  resolve_fallocate64();
  return fallocated(fd, mode, (uint64_t)off, (uint64_t)len,
                    real_fallocate64(fd, mode, off, len));
}

/* ---- maps ---- */

static void mapped(void *p, size_t len, int prot, int flags, int fd, off_t off) {
  if (p == MAP_FAILED || !is_watched(fd) || !(flags & MAP_SHARED))
    return;
  pthread_mutex_lock(&lock);
  if (is_mark(fd)) {
    /* Stores through a map of the mark would be seen by no checkpoint. */
    if (prot & PROT_WRITE)
      emit(K_ESCAPE, 0, MARK_BASE, len, 0, NULL, 0, 0);
    pthread_mutex_unlock(&lock);
    return;
  }
  for (int i = 0; i < MAX_MAPS; i++) {
    if (!maps[i].len) {
      maps[i] = (struct map){(uintptr_t)p, len, off, (prot & PROT_WRITE) != 0};
      break;
    }
  }
  pthread_mutex_unlock(&lock);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  resolve_mmap();
  void *p = real_mmap(addr, len, prot, flags, fd, off);
  mapped(p, len, prot, flags, fd, off);
  return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
  resolve_mmap64();
  void *p = real_mmap64(addr, len, prot, flags, fd, off);
  mapped(p, len, prot, flags, fd, (off_t)off);
  return p;
}

/* Before a map of the file goes away or moves: the stores made through it are in the page
 * cache, take them now. Returns the slot of a map that starts at `addr`, or -1. */
static int unmapping(uintptr_t addr, size_t len) {
  if (!enabled)
    return -1;
  pthread_mutex_lock(&lock);
  int hit = 0, slot = -1;
  for (int i = 0; i < MAX_MAPS; i++)
    if (maps[i].len && addr < maps[i].addr + maps[i].len && maps[i].addr < addr + len)
      hit = 1;
  if (hit) {
    checkpoint();
    for (int i = 0; i < MAX_MAPS; i++) {
      if (maps[i].len && maps[i].addr == addr)
        slot = i;
      if (maps[i].len && addr <= maps[i].addr && maps[i].addr + maps[i].len <= addr + len)
        maps[i].len = 0;
    }
  }
  pthread_mutex_unlock(&lock);
  return slot;
}

int munmap(void *addr, size_t len) {
  resolve_munmap();
  unmapping((uintptr_t)addr, len);
  return real_munmap(addr, len);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  void *want = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
  va_end(ap);
  resolve_mremap();
  struct map was = {0, 0, 0, 0};
  int slot = unmapping((uintptr_t)old, old_len);
  if (slot >= 0) {
    pthread_mutex_lock(&lock);
    was = maps[slot];
    pthread_mutex_unlock(&lock);
  }
  void *p = real_mremap(old, old_len, new_len, flags, want);
  if (slot >= 0 && p != MAP_FAILED) {
    /* The map moved or changed length: keep knowing where the file is. */
    pthread_mutex_lock(&lock);
    maps[slot] = (struct map){(uintptr_t)p, new_len, was.off, was.writable};
    pthread_mutex_unlock(&lock);
  }
  return p;
}
