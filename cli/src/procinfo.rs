//! Which processes have a store open, from /proc: every process that opened the store maps
//! its data.mdb, and a writable mapping means LMDB's MDB_WRITEMAP, which ttlkv uses only in
//! `periodic` durability with `write_map`. Sync and plain periodic map it read-only alike, so
//! that difference is not visible from outside. Processes whose maps cannot be read (another
//! user's, without root) are not listed; only Linux has /proc in this form.

use std::path::Path;

/// A process that maps the store's data.mdb.
#[derive(Clone, Debug)]
pub struct Mapper {
    pub pid: u32,
    /// True when one of its mappings of data.mdb is writable.
    pub writable: bool,
}

/// The kernel's device number from the `major:minor` (hex) of /proc/PID/maps (Linux's
/// `makedev`).
fn device(text: &str) -> Option<u64> {
    let (major, minor) = text.split_once(':')?;
    let major = u64::from_str_radix(major, 16).ok()?;
    let minor = u64::from_str_radix(minor, 16).ok()?;
    Some(
        ((major & 0xffff_f000) << 32)
            | ((major & 0x0000_0fff) << 8)
            | ((minor & 0xffff_ff00) << 12)
            | (minor & 0x0000_00ff),
    )
}

/// Every process (that this user may inspect) mapping `data_file`, by pid.
pub fn mappers(data_file: &Path) -> Vec<Mapper> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(data_file) else {
        return Vec::new();
    };
    let canonical = data_file.canonicalize().ok();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(maps) = std::fs::read_to_string(entry.path().join("maps")) else {
            continue;
        };
        let mut found: Option<bool> = None;
        for line in maps.lines() {
            // address perms offset dev inode pathname
            let mut f = line.split_ascii_whitespace();
            let (Some(_), Some(perms), Some(_), Some(dev), Some(inode)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            if inode.parse::<u64>().ok() != Some(meta.ino()) {
                continue;
            }
            // Overlay file systems show the device of the layer below: then the name decides.
            let name = f.collect::<Vec<_>>().join(" ");
            let same = device(dev) == Some(meta.dev())
                || canonical.as_deref().is_some_and(|c| Path::new(&name) == c);
            if same {
                let writable = perms.as_bytes().get(1) == Some(&b'w');
                found = Some(found.unwrap_or(false) || writable);
            }
        }
        if let Some(writable) = found {
            out.push(Mapper { pid, writable });
        }
    }
    out.sort_by_key(|m| m.pid);
    out
}

/// The command name of `pid` (/proc/PID/comm), if it is visible.
pub fn name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Whether `pid` is a live process (as far as /proc shows).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_decode_as_the_kernel_encodes_them() {
        assert_eq!(device("08:01"), Some((8 << 8) | 1));
        assert_eq!(device("fd:00"), Some(0xfd << 8));
        assert_eq!(device("103:02"), Some((0x103 << 8) | 2));
        assert_eq!(device("nonsense"), None);
    }
}
