//! The flush mark (`flush.mark`, beside `data.mdb`), and the roll-back it makes possible after
//! a crash of the machine.
//!
//! A commit in `periodic` mode is not fsynced: after a power loss or an OS crash the disk can
//! hold any mix of the pages written since the last flush — the meta page of a later commit
//! over pages it never received, pages of the flushed snapshot overwritten by later commits.
//! LMDB cannot return to its last durable state by itself: it keeps only the last two meta
//! pages, and reuses the pages of older snapshots as soon as no reader holds them.
//!
//! So a `periodic` flush keeps that state reachable, in this order (see `Env::flush`):
//! 1. it *pins* a snapshot — a read transaction, which LMDB honours in every process: no page
//!    of that snapshot, or of any later one, is reused while it is held;
//! 2. it copies the meta page of the last commit `t` (under the writer lock, where no commit
//!    can change it);
//! 3. it fsyncs `data.mdb`: every page of `t` is on disk, and none of them is written again
//!    while the pin is held (LMDB copies on write, and never into pages a reader may see);
//! 4. it writes the mark — the boot id, `t` and `t`'s meta page, with a checksum — and
//!    fdatasyncs it;
//! 5. only then it releases the previous pin.
//!
//! At open after a crash of the machine (the mark names another boot), the two meta pages of
//! `data.mdb` are rewritten from the mark: the store is then exactly the flushed snapshot `t`,
//! whatever the crash left of the later commits (they are lost, as `periodic` says). Open
//! verifies the result; if it is damaged (a pin was lost with a process killed before the
//! crash, or a process in `sync` mode wrote without pinning), the meta pages are put back as
//! the crash left them and that state is verified instead. Either way a damaged store is a
//! `corrupted` error (or a reset), never wrong data.
//!
//! In `sync` mode every commit is on disk when it returns: the mark carries no meta page, and
//! serves only to skip the verification at open after a clean shutdown.

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// The mark is one 512-byte write at offset 0: a single sector, which a disk writes whole.
pub(super) const MARK_LEN: usize = 512;

/// LMDB's page header, before the meta fields of a meta page.
const META_AT: usize = super::PAGE_HEADER;
/// `struct MDB_meta` of LMDB 0.9 on a 64-bit machine: magic, version, address, map size, the
/// two `MDB_db` (48 bytes each), last page, txnid.
pub(super) const META_LEN: usize = 136;
const MDB_MAGIC: u32 = 0xBEEF_C0DE;
const MDB_DATA_VERSION: u32 = 1;
/// `P_META`, the flags of a meta page's header.
const P_META: u16 = 0x08;
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
/// `mm_dbs[FREE_DBI].md_pad`, where LMDB keeps the page size.
const OFF_PSIZE: usize = 24;
const OFF_LAST_PG: usize = 120;
const OFF_TXNID: usize = 128;

/// A meta page's fields, as `struct MDB_meta` holds them.
pub(super) type Meta = [u8; META_LEN];

fn u32_at(m: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(m[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(m: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(m[at..at + 8].try_into().expect("8 bytes"))
}

/// The txnid of a meta, or `None` when the bytes are not a meta of this LMDB format and of
/// page size `psize`.
pub(super) fn meta_txnid(m: &[u8], psize: usize) -> Option<u64> {
    (m.len() >= META_LEN
        && u32_at(m, OFF_MAGIC) == MDB_MAGIC
        && u32_at(m, OFF_VERSION) == MDB_DATA_VERSION
        && u32_at(m, OFF_PSIZE) as usize == psize)
        .then(|| u64_at(m, OFF_TXNID))
}

/// The last page a meta names.
pub(super) fn meta_last_pgno(m: &Meta) -> u64 {
    u64_at(m, OFF_LAST_PG)
}

/// A meta page `pgno` (0 or 1) holding `meta` with its txnid replaced by `txnid`.
fn meta_page(pgno: u64, meta: &Meta, txnid: u64, psize: usize) -> Vec<u8> {
    let mut page = vec![0u8; psize];
    page[..8].copy_from_slice(&pgno.to_le_bytes());
    page[10..12].copy_from_slice(&P_META.to_le_bytes());
    page[META_AT..META_AT + META_LEN].copy_from_slice(meta);
    page[META_AT + OFF_TXNID..META_AT + OFF_TXNID + 8].copy_from_slice(&txnid.to_le_bytes());
    page
}

/// What the flush mark says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mark {
    pub boot: String,
    /// Every transaction up to this one was on disk at the flush.
    pub txnid: u64,
    /// `txnid`'s meta page, when the flush pinned its snapshot (periodic mode).
    pub meta: Option<Meta>,
    /// A roll-back to this mark began and was not yet verified.
    pub rolling_back: bool,
    /// The process whose pin keeps the snapshot of `meta` (written as `c:<pid>`).
    pub pid: Option<u32>,
}

/// FNV-1a, 64 bits: enough to tell a damaged mark from a whole one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Mark {
    /// `ttlkv-flush 2 <boot> <txnid> <meta hex or -> <c|r>[:<pid>] <checksum>`, padded with
    /// spaces.
    pub(super) fn encode(&self) -> Option<[u8; MARK_LEN]> {
        let meta = match &self.meta {
            Some(m) => m.iter().map(|b| format!("{b:02x}")).collect(),
            None => "-".to_string(),
        };
        let state = if self.rolling_back { "r" } else { "c" };
        let pid = self.pid.map(|p| format!(":{p}")).unwrap_or_default();
        let body = format!("ttlkv-flush 2 {} {} {meta} {state}{pid}", self.boot, self.txnid);
        let text = format!("{body} {:016x}\n", checksum(body.as_bytes()));
        let mut buf = [b' '; MARK_LEN];
        if text.len() > MARK_LEN {
            return None;
        }
        buf[..text.len()].copy_from_slice(text.as_bytes());
        Some(buf)
    }

    /// The mark in `text`, or `None` for anything else (no mark, a damaged one, a future
    /// version): then the store is treated as never marked flushed.
    pub(super) fn parse(text: &str) -> Option<Mark> {
        let line = text.lines().next()?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            // Written by earlier versions: no meta page, no checksum.
            ["ttlkv-flush", "1", boot, txnid] => Some(Mark {
                boot: boot.to_string(),
                txnid: txnid.parse().ok()?,
                meta: None,
                rolling_back: false,
                pid: None,
            }),
            ["ttlkv-flush", "2", boot, txnid, meta, state, sum] => {
                let body = format!("ttlkv-flush 2 {boot} {txnid} {meta} {state}");
                if u64::from_str_radix(sum, 16).ok()? != checksum(body.as_bytes()) {
                    return None;
                }
                let meta = match *meta {
                    "-" => None,
                    hex if hex.len() == 2 * META_LEN => {
                        let mut m = [0u8; META_LEN];
                        for (i, b) in m.iter_mut().enumerate() {
                            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
                        }
                        Some(m)
                    }
                    _ => return None,
                };
                let (state, pid) = match state.split_once(':') {
                    Some((s, p)) => (s, Some(p.parse().ok()?)),
                    None => (*state, None),
                };
                Some(Mark {
                    boot: boot.to_string(),
                    txnid: txnid.parse().ok()?,
                    meta,
                    rolling_back: match state {
                        "c" => false,
                        "r" => true,
                        _ => return None,
                    },
                    pid,
                })
            }
            _ => None,
        }
    }

    pub(super) fn read(dir: &Path) -> Option<Mark> {
        Mark::parse(&std::fs::read_to_string(dir.join(super::FLUSH_MARK)).ok()?)
    }
}

/// The mark in the open mark file `f`.
pub(super) fn read_mark(f: &std::fs::File) -> Option<Mark> {
    let mut buf = [0u8; MARK_LEN];
    let n = f.read_at(&mut buf, 0).ok()?;
    Mark::parse(std::str::from_utf8(&buf[..n]).ok()?)
}

/// Writes `mark` over the mark file; with `durable`, fdatasyncs it. False when it could not.
pub(super) fn write_mark(f: &std::fs::File, mark: &Mark, durable: bool) -> bool {
    let Some(buf) = mark.encode() else { return false };
    f.write_all_at(&buf, 0).is_ok() && (!durable || f.sync_data().is_ok())
}

/// A roll-back done at open: the meta pages as the crash left them, to put back if the
/// flushed snapshot turns out damaged.
pub(crate) struct RollBack {
    dir: std::path::PathBuf,
    original: Vec<u8>,
}

fn open_data(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(super::DATA_FILE))
}

fn io(what: &str, dir: &Path, e: std::io::Error) -> Error {
    Error::io(&format!("{what} {}", dir.display()), &e)
}

/// Whether a process has the environment open: every one holds a shared lock on byte 0 of
/// `lock.mdb` (LMDB's own protocol), which an exclusive test lock would conflict with.
fn others_have_it_open(dir: &Path) -> bool {
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(super::LOCK_FILE))
    else {
        return false; // no lock file: nobody has opened it since it was created
    };
    // SAFETY: flock is plain data; zeroed is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = 0;
    fl.l_len = 1;
    // A classic (process-owned) lock, as LMDB's: this process has no other descriptor of
    // lock.mdb (it has no environment of this directory), so closing `f` drops it.
    // SAFETY: fl is a valid flock and f an open descriptor.
    let taken =
        unsafe { libc::fcntl(std::os::unix::io::AsRawFd::as_raw_fd(&f), libc::F_SETLK, &mut fl) } == 0;
    !taken
}

/// After a crash of the machine: returns the store to the snapshot of its last flush, when the
/// mark holds that snapshot's meta page and the store moved past it. Runs before the
/// environment is opened, under the open lock, and only when no process has the environment
/// open. `None` when there is nothing to do or nothing that can be done (then open decides, as
/// before, whether to verify).
pub(crate) fn roll_back_to_flush(dir: &Path, boot: Option<&str>) -> Result<Option<RollBack>> {
    let Some(boot) = boot else { return Ok(None) };
    let Some(mark) = Mark::read(dir) else {
        return Ok(None);
    };
    let Some(meta) = mark.meta else { return Ok(None) };
    if mark.boot == boot || mark.txnid < 1 {
        return Ok(None);
    }
    let psize = u32_at(&meta, OFF_PSIZE) as usize;
    if !(512..=65536).contains(&psize)
        || !psize.is_power_of_two()
        || meta_txnid(&meta, psize) != Some(mark.txnid)
    {
        return Ok(None);
    }
    let file = match open_data(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("opening", dir, e)),
    };
    let mut original = vec![0u8; 2 * psize];
    if file.read_exact_at(&mut original, 0).is_err() {
        return Ok(None); // shorter than two pages: not a store this mark can describe
    }
    let t = mark.txnid;
    let slot = (t & 1) as usize;
    let (mine, other) = (
        &original[slot * psize..slot * psize + psize],
        &original[(1 - slot) * psize..(2 - slot) * psize],
    );
    let at_flush = mine[META_AT..META_AT + META_LEN] == meta[..]
        && meta_txnid(&other[META_AT..], psize).is_some_and(|o| o < t);
    if at_flush || others_have_it_open(dir) {
        return Ok(None);
    }
    // First say, durably, that a roll-back is under way: if this process dies before the
    // result is verified, the next open verifies it.
    let marking = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(super::FLUSH_MARK))
        .map_err(|e| io("opening the flush mark of", dir, e))?;
    let rolling = Mark {
        rolling_back: true,
        ..mark.clone()
    };
    if !write_mark(&marking, &rolling, true) {
        return Ok(None);
    }
    let mut pages = meta_page(slot as u64, &meta, t, psize);
    pages.extend(meta_page(1 - slot as u64, &meta, t - 1, psize));
    if slot == 1 {
        pages.rotate_left(psize); // page 0 first
    }
    file.write_all_at(&pages, 0)
        .and_then(|_| file.sync_data())
        .map_err(|e| io("rolling back", dir, e))?;
    Ok(Some(RollBack {
        dir: dir.to_path_buf(),
        original,
    }))
}

impl RollBack {
    /// Puts the meta pages back as the crash left them.
    pub(crate) fn undo(self) -> Result<()> {
        let file = open_data(&self.dir).map_err(|e| io("opening", &self.dir, e))?;
        file.write_all_at(&self.original, 0)
            .and_then(|_| file.sync_data())
            .map_err(|e| io("undoing the roll-back of", &self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(txnid: u64) -> Meta {
        let mut m = [7u8; META_LEN];
        m[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&MDB_MAGIC.to_le_bytes());
        m[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&MDB_DATA_VERSION.to_le_bytes());
        m[OFF_PSIZE..OFF_PSIZE + 4].copy_from_slice(&4096u32.to_le_bytes());
        m[OFF_TXNID..OFF_TXNID + 8].copy_from_slice(&txnid.to_le_bytes());
        m
    }

    #[test]
    fn marks_round_trip_and_damage_is_refused() {
        for mark in [
            Mark {
                boot: "b1".into(),
                txnid: 42,
                meta: Some(meta(42)),
                rolling_back: false,
                pid: Some(4242),
            },
            Mark {
                boot: "b2".into(),
                txnid: 7,
                meta: None,
                rolling_back: true,
                pid: None,
            },
        ] {
            let buf = mark.encode().unwrap();
            let text = std::str::from_utf8(&buf).unwrap();
            assert_eq!(Mark::parse(text), Some(mark.clone()));
            // Any changed character of the line is a damaged mark.
            let line_len = text.find('\n').unwrap();
            for i in (0..line_len).step_by(7) {
                let mut b = buf;
                b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                assert_eq!(
                    Mark::parse(std::str::from_utf8(&b).unwrap()),
                    None,
                    "byte {i} changed unnoticed"
                );
            }
        }
        assert_eq!(
            Mark::parse("ttlkv-flush 1 boot 9\n").map(|m| (m.txnid, m.meta.is_none())),
            Some((9, true))
        );
        assert_eq!(Mark::parse(""), None);
        assert_eq!(Mark::parse("ttlkv-flush 3 a b c d e f"), None);
    }

    #[test]
    fn meta_pages_carry_the_txnid_asked() {
        let m = meta(10);
        let p = meta_page(1, &m, 9, 4096);
        assert_eq!(meta_txnid(&p[META_AT..], 4096), Some(9));
        assert_eq!(meta_txnid(&p[META_AT..], 8192), None);
        assert_eq!(u64_at(&p, 0), 1);
    }
}
