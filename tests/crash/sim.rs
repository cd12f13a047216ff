//! The crash-state model of tests/crash_states.rs: the trace tests/crash/shim.c writes, the
//! versions each 4 KiB page of `data.mdb` and the store's `flush.mark` went through, which of
//! them a power loss at a given moment may have left on disk, and the file images built from
//! such a choice.
//!
//! Cuts. Trace records are numbered 0..n; a crash at cut `c` happened after records `0..c`
//! and before record `c` (a write record is appended when its call returned, so at cut `c`
//! the write of record `c` may have been in flight).
//!
//! Pages. Every write record, whether a write(2) or a page the shim found changed through the
//! map, gives each page it touches a new version: the page as the page cache held it right
//! then. Version 0 is the page before the trace (a hole: zeros). A power loss leaves each page
//! at one of its versions — the page cache writes a page back whole, whenever it likes, in any
//! order with other pages, and never an older version over a newer one it already wrote — so
//! the state of the file is one version per page (plus its length), each chosen among
//!   - the versions issued before the cut, and
//!   - not older than the newest version that is known to be on disk at the cut: covered by a
//!     barrier that completed before the cut (fsync, fdatasync, msync, ... of a range holding
//!     the page, begun after the version was issued), or written through an O_DSYNC
//!     descriptor (on disk, with the rest of its page, when the call returned).
//!
//! Torn writes: a page being written back when the power went can be left with some of its
//! 512-byte sectors new and the others old. Sectors themselves are atomic.
//!
//! The flush mark. Its bytes are traced at `MARK_BASE` + their offset in the mark, so the mark
//! is one more page, `MARK_PGNO`, with versions like any other and chosen the same way; only
//! the barriers on the mark cover it (`Barrier` below), and none of them covers data.mdb's
//! pages or length. The library writes it as one 512-byte write at offset 0, a single sector:
//! it is never torn. The image of data.mdb leaves it out; it is the mark file's content, with
//! the page's trailing zero bytes cut (the mark's length is not modelled: the shim fails the
//! trace on any change of it other than by that write).
//!
//! The length of data.mdb is one more variable of the same kind (ftruncate, fallocate; any
//! barrier on data.mdb, not one on the mark, puts it on disk); a page chosen past the chosen
//! length lengthens the image.
//!
//! A state is legal at a range of cuts; it is checked against the latest one, `c_max`, where
//! the model (what was acknowledged) asks the most. The enumeration is exhaustive: for each
//! cut at which the set of versions known on disk changes, every combination of the pages'
//! choices, deduplicated. When that is too many, states are sampled with a seeded generator.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

pub const PAGE: usize = 4096;
pub const SECTOR: usize = 512;
/// Where the flush mark's bytes are in the trace's offsets (1 TiB, past any data.mdb of a
/// test). Must equal MARK_BASE in tests/crash/shim.c.
pub const MARK_BASE: u64 = 1 << 40;
/// The mark's one page.
pub const MARK_PGNO: u64 = MARK_BASE / PAGE as u64;

const K_WRITE: u32 = 1;
const K_MAPPED: u32 = 2;
const K_BARRIER: u32 = 3;
const K_SIZE: u32 = 4;
const K_NOTE: u32 = 5;
const K_ESCAPE: u32 = 6;
const W_DSYNC: u32 = 1;
/// The barrier kind that covers both files (syncfs, sync).
const B_SYNCFS: u32 = 5;

/// One record of the trace.
#[derive(Clone, Debug)]
pub enum Rec {
    /// Bytes that reached the page cache at `off` (`MARK_BASE` + offset: in the flush mark):
    /// by a write call, or (`mapped`) found changed through a writable map at a checkpoint.
    /// `dsync`: on disk when the call returned.
    Write {
        off: u64,
        data: Vec<u8>,
        dsync: bool,
        mapped: bool,
    },
    /// A barrier that completed; it covers the records `0..covers` and the byte range
    /// `start..start+len`, clipped to the file it was made on: data.mdb (`start` below
    /// `MARK_BASE`; `len == 0`: all of data.mdb, never the mark) or the mark (`start` from
    /// `MARK_BASE` on). A syncfs or sync (`how` 5) with `len == 0` covers both files.
    Barrier {
        how: u32,
        start: u64,
        len: u64,
        covers: usize,
    },
    /// The file's length after a call that changed it (`initial`: when the shim first saw it).
    Size { len: u64, initial: bool },
    /// A line from the workload.
    Note(String),
    /// Something the model cannot represent.
    Escape { flags: u32, a: u64, b: u64 },
}

impl Rec {
    /// Whether this write is to the flush mark.
    pub fn on_mark(off: u64) -> bool {
        off >= MARK_BASE
    }
    pub fn barrier_name(how: u32) -> &'static str {
        match how {
            1 => "fsync",
            2 => "fdatasync",
            3 => "msync",
            4 => "sync_file_range",
            _ => "syncfs",
        }
    }
}

/// Reads a trace file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Vec<Rec>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    while at < bytes.len() {
        if bytes.len() - at < 40 {
            return Err(format!("trace ends inside a record header at byte {at}"));
        }
        let h = &bytes[at..at + 40];
        let (kind, flags, a, b, c, len) = (
            u32_at(h, 0),
            u32_at(h, 4),
            u64_at(h, 8),
            u64_at(h, 16),
            u64_at(h, 24),
            u64_at(h, 32) as usize,
        );
        at += 40;
        if bytes.len() - at < len {
            return Err(format!("trace ends inside record {}", out.len()));
        }
        let payload = &bytes[at..at + len];
        at += len;
        out.push(match kind {
            K_WRITE | K_MAPPED => Rec::Write {
                off: a,
                data: payload.to_vec(),
                dsync: flags & W_DSYNC != 0,
                mapped: kind == K_MAPPED,
            },
            K_BARRIER => Rec::Barrier {
                how: flags,
                start: a,
                len: b,
                covers: c as usize,
            },
            K_SIZE => Rec::Size {
                len: a,
                initial: flags == 1,
            },
            K_NOTE => Rec::Note(String::from_utf8_lossy(payload).into_owned()),
            K_ESCAPE => Rec::Escape { flags, a, b },
            k => return Err(format!("record {} has unknown kind {k}", out.len())),
        });
    }
    Ok(out)
}

/// Never on disk for sure.
const NEVER: usize = usize::MAX;

/// One version of a page (or of the length).
#[derive(Clone, Debug)]
struct Version {
    /// The first cut at which it exists (record index + 1; 0 for the version before the trace).
    issued: usize,
    /// The first cut at which it is known to be on disk (NEVER when no barrier covers it).
    durable: usize,
}

#[derive(Clone, Debug)]
struct PageHist {
    pgno: u64,
    versions: Vec<Version>,
    /// Contents; `data[0]` is the hole before the trace.
    data: Vec<Rc<Vec<u8>>>,
}

/// What a trace tells: every page's versions, the length's, and the cuts worth crashing at.
pub struct Model {
    pages: Vec<PageHist>,
    sizes: Vec<(Version, u64)>,
    /// The cuts at which the set of durable versions is about to change (and the end).
    cuts: Vec<usize>,
    /// Number of records.
    pub n: usize,
    pub stats: TraceStats,
}

/// Counts of what the trace holds (printed with the results). `writes`, `dsync_writes`,
/// `mapped_pages`, `barriers`, `pages` and `page_versions` are data.mdb's; the flush mark's
/// are apart (a syncfs, covering both, is counted in `barriers`).
#[derive(Clone, Debug, Default)]
pub struct TraceStats {
    pub writes: usize,
    pub dsync_writes: usize,
    pub mapped_pages: usize,
    pub barriers: BTreeMap<&'static str, usize>,
    pub sizes: usize,
    pub notes: usize,
    pub escapes: usize,
    pub pages: usize,
    pub page_versions: usize,
    pub mark_writes: usize,
    pub mark_barriers: BTreeMap<&'static str, usize>,
    pub mark_versions: usize,
}

/// A crash image: data.mdb's length and its non-hole pages (offset, 4 KiB), and the flush
/// mark's bytes when it was ever written.
pub type Image = (u64, Vec<(u64, Vec<u8>)>, Option<Vec<u8>>);

/// One crash state: a version per page and for the length, and maybe one torn page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub pick: Vec<u16>,
    pub size: u16,
    /// (page index, older version, mask of the sectors taken from the older version).
    pub torn: Option<(usize, u16, u8)>,
}

/// A small deterministic generator (splitmix64): the seed replays a run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

impl Model {
    pub fn build(recs: &[Rec]) -> Result<Model, String> {
        let mut stats = TraceStats::default();
        let mut by_pgno: BTreeMap<u64, PageHist> = BTreeMap::new();
        let zero = Rc::new(vec![0u8; PAGE]);
        let mut sizes: Vec<(Version, u64)> = vec![(
            Version {
                issued: 0,
                durable: 0,
            },
            0,
        )];
        // Which page versions each write made, to mark them durable later.
        let mut made: Vec<(usize, u64, usize)> = Vec::new(); // (record, pgno, version)
        for (i, r) in recs.iter().enumerate() {
            match r {
                Rec::Write {
                    off,
                    data,
                    dsync,
                    mapped,
                } => {
                    let end64 = off + data.len() as u64;
                    if Rec::on_mark(*off) {
                        if *mapped || end64 > MARK_BASE + PAGE as u64 {
                            return Err(format!(
                                "record {i}: a write to the flush mark the model cannot hold (mapped {mapped}, bytes {}..{})",
                                off - MARK_BASE,
                                end64 - MARK_BASE
                            ));
                        }
                        stats.mark_writes += 1;
                    } else {
                        if end64 > MARK_BASE {
                            return Err(format!(
                                "record {i}: a write to data.mdb reaches the flush mark's offsets ({off}..{end64})"
                            ));
                        }
                        stats.writes += usize::from(!mapped);
                        stats.dsync_writes += usize::from(*dsync);
                        stats.mapped_pages += usize::from(*mapped);
                    }
                    let mut pos = *off as usize;
                    let end = pos + data.len();
                    while pos < end {
                        let pgno = (pos / PAGE) as u64;
                        let in_page = pos % PAGE;
                        let n = (PAGE - in_page).min(end - pos);
                        let h = by_pgno.entry(pgno).or_insert_with(|| PageHist {
                            pgno,
                            versions: vec![Version {
                                issued: 0,
                                durable: 0,
                            }],
                            data: vec![zero.clone()],
                        });
                        let mut page = (**h.data.last().unwrap()).clone();
                        let from = pos - *off as usize;
                        page[in_page..in_page + n].copy_from_slice(&data[from..from + n]);
                        h.versions.push(Version {
                            issued: i + 1,
                            durable: if *dsync { i + 1 } else { NEVER },
                        });
                        h.data.push(Rc::new(page));
                        made.push((i, pgno, h.versions.len() - 1));
                        pos += n;
                    }
                }
                Rec::Barrier {
                    how,
                    start,
                    len,
                    covers,
                } => {
                    let both = *how == B_SYNCFS && *len == 0;
                    let mark = !both && Rec::on_mark(*start);
                    let counts = if mark {
                        &mut stats.mark_barriers
                    } else {
                        &mut stats.barriers
                    };
                    *counts.entry(Rec::barrier_name(*how)).or_default() += 1;
                    // The pages it covers, within the file it was made on: data.mdb's are
                    // below MARK_PGNO, the mark's from it on.
                    let (lo, hi) = if both {
                        (0, u64::MAX)
                    } else {
                        let (first, last) = if mark {
                            (MARK_PGNO, u64::MAX)
                        } else {
                            (0, MARK_PGNO - 1)
                        };
                        if *len == 0 {
                            (first, last)
                        } else {
                            let p = PAGE as u64;
                            (
                                (start / p).max(first),
                                (start.saturating_add(len - 1) / p).min(last),
                            )
                        }
                    };
                    for &(w, pgno, v) in &made {
                        if w < *covers && pgno >= lo && pgno <= hi {
                            let ver = &mut by_pgno.get_mut(&pgno).unwrap().versions[v];
                            ver.durable = ver.durable.min(i + 1);
                        }
                    }
                    // data.mdb's length: any barrier on data.mdb puts it on disk, one on the
                    // mark does not.
                    if !mark {
                        for (ver, _) in sizes.iter_mut() {
                            if ver.issued <= *covers {
                                ver.durable = ver.durable.min(i + 1);
                            }
                        }
                    }
                }
                Rec::Size { len, initial } => {
                    stats.sizes += 1;
                    if *initial {
                        if *len != 0 {
                            return Err(format!(
                                "data.mdb already held {len} bytes when the trace began: the workload must start from an empty store"
                            ));
                        }
                        continue;
                    }
                    sizes.push((
                        Version {
                            issued: i + 1,
                            durable: NEVER,
                        },
                        *len,
                    ));
                }
                Rec::Note(_) => stats.notes += 1,
                Rec::Escape { .. } => stats.escapes += 1,
            }
        }
        let pages: Vec<PageHist> = by_pgno.into_values().collect();
        // data.mdb's pages apart from the mark's.
        let versions = |mark: bool| -> usize {
            pages
                .iter()
                .filter(|p| (p.pgno == MARK_PGNO) == mark)
                .map(|p| p.versions.len() - 1)
                .sum()
        };
        stats.pages = pages.iter().filter(|p| p.pgno != MARK_PGNO).count();
        stats.page_versions = versions(false);
        stats.mark_versions = versions(true);
        let n = recs.len();
        let mut cuts: Vec<usize> = pages
            .iter()
            .flat_map(|p| p.versions.iter().map(|v| v.durable))
            .chain(sizes.iter().map(|(v, _)| v.durable))
            .filter(|&d| d != NEVER && d >= 1)
            .map(|d| d - 1)
            .chain(std::iter::once(n))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        Ok(Model {
            pages,
            sizes,
            cuts,
            n,
            stats,
        })
    }

    /// The versions a variable may be at for a crash at cut `c`: from the newest durable one
    /// to the newest issued one.
    fn range(versions: &[Version], c: usize) -> (usize, usize) {
        let mand = (0..versions.len())
            .filter(|&k| versions[k].durable <= c)
            .max()
            .unwrap_or(0);
        let latest = (0..versions.len())
            .filter(|&k| versions[k].issued <= c)
            .max()
            .unwrap_or(0);
        (mand, latest.max(mand))
    }

    fn size_versions(&self) -> Vec<Version> {
        self.sizes.iter().map(|(v, _)| v.clone()).collect()
    }

    /// The latest cut at which `s` can be what a crash left (ignoring a torn page's older
    /// half, see `torn_cut`), or None when no cut allows it.
    pub fn c_max(&self, s: &State) -> Option<usize> {
        // A variable at version k allows the cuts from k's issue up to just before a newer
        // version becomes durable.
        fn allows(versions: &[Version], k: usize, lo: &mut usize, hi: &mut usize) {
            for v in &versions[k + 1..] {
                if v.durable != NEVER {
                    *hi = (*hi).min(v.durable - 1);
                }
            }
            *lo = (*lo).max(versions[k].issued);
        }
        let (mut lo, mut hi) = (0usize, self.n);
        for (i, (p, &k)) in self.pages.iter().zip(&s.pick).enumerate() {
            match s.torn {
                Some((tp, old, _)) if tp == i => {
                    // The older half must still be allowed; the newer half was in flight at
                    // least (its record comes when the call returned).
                    allows(&p.versions, old as usize, &mut lo, &mut hi);
                    lo = lo.max(p.versions[k as usize].issued.saturating_sub(1));
                }
                _ => allows(&p.versions, k as usize, &mut lo, &mut hi),
            }
        }
        allows(&self.size_versions(), s.size as usize, &mut lo, &mut hi);
        (lo <= hi).then_some(hi)
    }

    /// How many states the exhaustive enumeration has (before deduplication), saturating.
    pub fn space(&self) -> u128 {
        let sv = self.size_versions();
        let mut total: u128 = 0;
        for &c in &self.cuts {
            let mut prod: u128 = 1;
            for p in &self.pages {
                let (a, b) = Model::range(&p.versions, c);
                prod = prod.saturating_mul((b - a + 1) as u128);
            }
            let (a, b) = Model::range(&sv, c);
            prod = prod.saturating_mul((b - a + 1) as u128);
            total = total.saturating_add(prod);
        }
        total
    }

    /// Every state, deduplicated, each with its `c_max`.
    pub fn enumerate(&self) -> Vec<(State, usize)> {
        let sv = self.size_versions();
        let mut seen: HashMap<State, usize> = HashMap::new();
        let mut order: Vec<State> = Vec::new();
        for &c in &self.cuts {
            let mut ranges: Vec<(usize, usize)> =
                self.pages.iter().map(|p| Model::range(&p.versions, c)).collect();
            ranges.push(Model::range(&sv, c));
            let mut cur: Vec<usize> = ranges.iter().map(|r| r.0).collect();
            loop {
                let s = State {
                    pick: cur[..self.pages.len()].iter().map(|&k| k as u16).collect(),
                    size: cur[self.pages.len()] as u16,
                    torn: None,
                };
                match seen.get_mut(&s) {
                    Some(old) => *old = (*old).max(c),
                    None => {
                        seen.insert(s.clone(), c);
                        order.push(s);
                    }
                }
                // Next combination (mixed radix).
                let mut i = 0;
                loop {
                    if i == cur.len() {
                        break;
                    }
                    if cur[i] < ranges[i].1 {
                        cur[i] += 1;
                        break;
                    }
                    cur[i] = ranges[i].0;
                    i += 1;
                }
                if i == cur.len() {
                    break;
                }
            }
        }
        order
            .into_iter()
            .map(|s| {
                let c = seen[&s];
                assert_eq!(self.c_max(&s), Some(c), "the enumeration and c_max disagree");
                (s, c)
            })
            .collect()
    }

    /// A random legal state: a random cut of interest, then a random choice per variable.
    pub fn sample(&self, rng: &mut Rng) -> (State, usize) {
        let sv = self.size_versions();
        loop {
            let c = self.cuts[rng.below(self.cuts.len())];
            let pick = self
                .pages
                .iter()
                .map(|p| {
                    let (a, b) = Model::range(&p.versions, c);
                    (a + rng.below(b - a + 1)) as u16
                })
                .collect();
            let (a, b) = Model::range(&sv, c);
            let s = State {
                pick,
                size: (a + rng.below(b - a + 1)) as u16,
                torn: None,
            };
            if let Some(cm) = self.c_max(&s) {
                return (s, cm);
            }
        }
    }

    /// A torn variant of `s`: one page of data.mdb whose chosen version was being written
    /// back over an older allowed one, some of its sectors from each. None when `s` has no
    /// such page. Never the flush mark: each of its versions is one write of one sector.
    pub fn tear(&self, s: &State, rng: &mut Rng) -> Option<(State, usize)> {
        let c = self.c_max(s)?;
        let candidates: Vec<usize> = (0..self.pages.len())
            .filter(|&p| {
                let (a, _) = Model::range(&self.pages[p].versions, c);
                self.pages[p].pgno != MARK_PGNO && (s.pick[p] as usize) > a
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        for _ in 0..8 {
            let p = candidates[rng.below(candidates.len())];
            let new = s.pick[p] as usize;
            let (a, _) = Model::range(&self.pages[p].versions, c);
            let old = a + rng.below(new - a);
            let differ: Vec<usize> = (0..PAGE / SECTOR)
                .filter(|&k| {
                    let r = k * SECTOR..(k + 1) * SECTOR;
                    self.pages[p].data[new][r.clone()] != self.pages[p].data[old][r]
                })
                .collect();
            if differ.len() < 2 {
                continue;
            }
            // Some differing sectors old, some new: a real tear.
            let mut mask: u8 = 0;
            while mask.count_ones() == 0 || differ.iter().all(|&k| mask & (1 << k) != 0) {
                mask = 0;
                for &k in &differ {
                    if rng.next() & 1 == 1 {
                        mask |= 1 << k;
                    }
                }
            }
            let t = State {
                pick: s.pick.clone(),
                size: s.size,
                torn: Some((p, old as u16, mask)),
            };
            if let Some(ct) = self.c_max(&t) {
                return Some((t, ct));
            }
        }
        None
    }

    /// The image of `s`: data.mdb's length and its non-hole pages (offset, 4 KiB), and the
    /// flush mark's content (its page without the trailing zero bytes), None when the mark
    /// is at version 0 (not written: the file, if the crash left one, is empty).
    pub fn image(&self, s: &State) -> Image {
        let mut len = self.sizes[s.size as usize].1;
        let mut out = Vec::new();
        let mut mark = None;
        for (i, (p, &k)) in self.pages.iter().zip(&s.pick).enumerate() {
            if p.pgno == MARK_PGNO {
                if k != 0 {
                    let d = &p.data[k as usize];
                    let n = d.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
                    mark = Some(d[..n].to_vec());
                }
                continue;
            }
            let mut page = (*p.data[k as usize]).clone();
            if let Some((tp, old, mask)) = s.torn {
                if tp == i {
                    for sec in 0..PAGE / SECTOR {
                        if mask & (1 << sec) != 0 {
                            let r = sec * SECTOR..(sec + 1) * SECTOR;
                            page[r.clone()].copy_from_slice(&p.data[old as usize][r]);
                        }
                    }
                }
            }
            if k == 0 && page.iter().all(|&b| b == 0) {
                continue;
            }
            len = len.max((p.pgno + 1) * PAGE as u64);
            out.push((p.pgno * PAGE as u64, page));
        }
        (len, out, mark)
    }

    /// A short description of a state, for findings: each page not at its latest version,
    /// the mark first (findings are shortened from the end).
    pub fn describe(&self, s: &State, c: usize) -> String {
        let mut parts = Vec::new();
        for (p, &k) in self.pages.iter().zip(&s.pick) {
            let (a, b) = Model::range(&p.versions, c);
            if a != b || k as usize != b {
                if p.pgno == MARK_PGNO {
                    parts.insert(0, format!("mark v{k}/{a}..{b}"));
                } else {
                    parts.push(format!("page {} v{}/{}..{}", p.pgno, k, a, b));
                }
            }
        }
        if let Some((p, old, mask)) = s.torn {
            parts.push(format!(
                "page {} torn: sectors {mask:08b} from v{old}",
                self.pages[p].pgno
            ));
        }
        let (a, b) = Model::range(&self.size_versions(), c);
        if a != b {
            parts.push(format!("length v{}/{}..{}", s.size, a, b));
        }
        format!("cut {c}/{}: {}", self.n, parts.join(", "))
    }
}
