//! The store's files as ttlkv sees them beside LMDB: the checks of the directory and of the
//! files in it (no links, no other user's directory), ttlkv's own descriptor on `data.mdb`,
//! and the two cross-process locks on it.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::{DATA_FILE, FLUSH_MARK, LOCK_FILE};
use crate::error::{Error, ErrorKind, Result};

/// Refuses a directory another user could tamper with, and store files that are links.
///
/// Whoever can write to the directory can swap `lock.mdb` or `data.mdb` for a link to a file
/// of yours between any check and LMDB's open, so by default the directory must be owned by
/// this process's user and writable by nobody else. `allow_shared_dir` lifts that (for a
/// directory shared by a group of trusted users); links are refused either way.
pub(super) fn check_directory(dir: &Path, allow_shared_dir: bool) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let how_to_allow = "to share a store directory between users on purpose, open with the allow_shared_dir option (Rust Options::allow_shared_dir, C ttlkv_options_set_allow_shared_dir, Python allow_shared_dir=True, Elixir allow_shared_dir: true)";
    let m = std::fs::metadata(dir).map_err(|e| Error::io(&format!("reading {}", dir.display()), &e))?;
    if !allow_shared_dir {
        if m.uid() != euid {
            return Err(Error::new(
                ErrorKind::Permission,
                format!(
                    "{} is owned by uid {}, not by this process's user (uid {euid}): its owner could replace the store's files with links to yours; {how_to_allow}",
                    dir.display(),
                    m.uid()
                ),
            ));
        }
        if m.mode() & 0o022 != 0 {
            return Err(Error::new(
                ErrorKind::Permission,
                format!(
                    "{} is writable by other users (mode {:o}): they could replace the store's files with links to yours; make it 0700 (chmod go-w), or {how_to_allow}",
                    dir.display(),
                    m.mode() & 0o7777
                ),
            ));
        }
    }
    for name in [DATA_FILE, LOCK_FILE, FLUSH_MARK] {
        let path = dir.join(name);
        let fm = match std::fs::symlink_metadata(&path) {
            Ok(fm) => fm,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&format!("reading {}", path.display()), &e)),
        };
        if fm.file_type().is_symlink() {
            return Err(refused(
                &path,
                "is a symbolic link: a store's files must be regular files",
            ));
        }
        if !fm.file_type().is_file() {
            return Err(refused(&path, "is not a regular file"));
        }
        if fm.nlink() > 1 {
            let why = format!(
                "has {} hard links: a store's files must have one name",
                fm.nlink()
            );
            return Err(refused(&path, &why));
        }
        if !allow_shared_dir && fm.uid() != euid {
            return Err(Error::new(
                ErrorKind::Permission,
                format!(
                    "{} is owned by uid {}, not by this process's user (uid {euid}); {how_to_allow}",
                    path.display(),
                    fm.uid()
                ),
            ));
        }
    }
    Ok(())
}

/// A store file that is not one: refused with the file left as it is.
pub(super) fn refused(path: &Path, why: &str) -> Error {
    Error::new(
        ErrorKind::PathInvalid,
        format!("{} {why} (refused and left untouched)", path.display()),
    )
}

/// ttlkv's own descriptor on `data.mdb`: its length, and the two cross-process locks.
pub(super) struct DataFile {
    file: File,
    /// Its slot in the fork module's list of descriptors a child closes.
    fork_slot: Option<usize>,
    pub(super) path: PathBuf,
}

impl DataFile {
    pub(super) fn open(path: PathBuf) -> Result<DataFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => {
                    refused(&path, "is a symbolic link: a store's files must be regular files")
                }
                _ => Error::io(&format!("opening {}", path.display()), &e),
            })?;
        let m = file
            .metadata()
            .map_err(|e| Error::io(&format!("reading {}", path.display()), &e))?;
        if !m.file_type().is_file() {
            return Err(refused(&path, "is not a regular file"));
        }
        let fork_slot = crate::fork::close_in_child(file.as_raw_fd());
        Ok(DataFile {
            file,
            fork_slot,
            path,
        })
    }

    pub(super) fn len(&self) -> Result<usize> {
        self.file
            .metadata()
            .map(|m| m.len() as usize)
            .map_err(|e| Error::io(&format!("reading the length of {}", self.path.display()), &e))
    }

    pub(super) fn identity(&self) -> Result<(u64, u64)> {
        self.file
            .metadata()
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| Error::io(&format!("reading {}", self.path.display()), &e))
    }

    /// Takes the lock on `byte`: waiting for it, or `None` at once when another process has it.
    pub(super) fn lock(&self, byte: i64, wait: bool) -> Result<Option<FileLock>> {
        loop {
            match fcntl_lock(self.file.as_raw_fd(), byte, libc::F_WRLCK as i16, wait) {
                0 => {
                    return Ok(Some(FileLock {
                        fd: self.file.as_raw_fd(),
                        byte,
                    }))
                }
                libc::EINTR => continue,
                libc::EAGAIN | libc::EACCES if !wait => return Ok(None),
                errno => {
                    return Err(Error::new(
                        ErrorKind::from_errno(errno),
                        format!(
                            "locking {}: {} (errno {errno})",
                            self.path.display(),
                            std::io::Error::from_raw_os_error(errno)
                        ),
                    ))
                }
            }
        }
    }

    /// Makes the file at least `len` bytes long: with blocks reserved on disk (`reserve`), so
    /// a write through a writable map can never fault on a full disk, or as a sparse extension.
    pub(super) fn extend(&self, len: usize, reserve: bool) -> Result<()> {
        if reserve {
            // SAFETY: the fd is open.
            let rc = unsafe { libc::posix_fallocate(self.file.as_raw_fd(), 0, len as libc::off_t) };
            if rc != 0 {
                return Err(Error::new(
                    ErrorKind::from_errno(rc),
                    format!(
                        "reserving {len} bytes on disk for the map of {}: {} (errno {rc})",
                        self.path.display(),
                        std::io::Error::from_raw_os_error(rc)
                    ),
                ));
            }
        } else if self.len()? < len {
            self.file
                .set_len(len as u64)
                .map_err(|e| Error::io(&format!("extending {}", self.path.display()), &e))?;
        }
        Ok(())
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        crate::fork::forget_fd(self.fork_slot, self.file.as_raw_fd());
    }
}

/// Sets or clears an open-file-description lock on one byte; returns 0 or the errno.
pub(super) fn fcntl_lock(fd: i32, byte: i64, kind: i16, wait: bool) -> i32 {
    // SAFETY: flock is plain data; zeroed is a valid value (l_pid must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = byte;
    fl.l_len = 1;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    // SAFETY: fl is a valid flock; a closed fd only yields EBADF.
    if unsafe { libc::fcntl(fd, cmd, &mut fl) } == 0 {
        0
    } else {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }
}

/// A held cross-process lock, released on drop. It names the descriptor of a [`DataFile`]
/// that outlives it (closing the descriptor releases the lock anyway).
pub(super) struct FileLock {
    fd: i32,
    byte: i64,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        fcntl_lock(self.fd, self.byte, libc::F_UNLCK as i16, false);
    }
}
