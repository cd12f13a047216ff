//! `verify`: entries and the deadline index checked against each other in one snapshot, every
//! record read through the bounds checks, and the data file against its pages.

use super::{Core, VerifyReport};
use crate::codec::{
    is_index_key, split_entry_key, split_index_key, Header, IndexKey, Settings, INDEX_OVERHEAD, NEVER,
    SETTINGS_KEY,
};
use crate::error::Result;

impl Core {
    pub(crate) fn verify(&self) -> Result<VerifyReport> {
        let max_key = self.env.max_key_size();
        self.env.read(|txn| {
            let mut r = VerifyReport::default();
            let problem = |r: &mut VerifyReport, p: String| {
                if r.problems.len() < 100 {
                    r.problems.push(p);
                }
            };
            if let Some(p) = self.env.file_problem()? {
                problem(&mut r, p);
            }
            let mut missing = Vec::new();
            let mut index = Vec::new();
            let mut damaged = Vec::new();
            let mut records = 0u64;
            txn.scan_checked(&[], |k, v| {
                records += 1;
                // Every key and value is bounds-checked as it is read: damage is reported and
                // the scan goes on.
                let (k, v) = match (k, v) {
                    (Ok(k), Ok(v)) => (k, v),
                    (Ok(k), Err(e)) => {
                        damaged.push(format!("record {k:?}: {}", e.message()));
                        return true;
                    }
                    (Err(e), _) => {
                        damaged.push(format!("a key: {}", e.message()));
                        return true;
                    }
                };
                if is_index_key(k) {
                    index.push(k.to_vec());
                    return true;
                }
                if crate::env::is_database_record(k) {
                    return true;
                }
                if k == SETTINGS_KEY {
                    if Settings::decode(v).is_none() {
                        problem(
                            &mut r,
                            format!("the settings record ({} bytes) is damaged", v.len()),
                        );
                    }
                    return true;
                }
                r.entries += 1;
                if split_entry_key(k).is_none() || k.len() + INDEX_OVERHEAD > max_key {
                    problem(&mut r, format!("entry key {k:?} is malformed"));
                }
                match Header::decode(v) {
                    None => problem(&mut r, format!("entry {k:?} has a value shorter than its header")),
                    Some((h, _)) if h.deadline != NEVER => {
                        r.expiring += 1;
                        missing.push(IndexKey::new(h.deadline, k).as_bytes().to_vec());
                    }
                    Some(_) => {}
                }
                true
            })?;
            for d in damaged {
                problem(&mut r, d);
            }
            // LMDB counts the tree's records in its meta page: a meta that reached the disk
            // without all the pages it points to (an OS crash that reordered writes) disagrees.
            let counted = txn.record_count()?;
            if counted != records {
                problem(
                    &mut r,
                    format!("the B-tree says it holds {counted} records but {records} were found: pages are missing or stale (an OS crash or power loss may have reordered writes)"),
                );
            }
            if let Err(e) = txn.check_free_list() {
                problem(&mut r, format!("the free list is unreadable: {}", e.message()));
            }
            for ik in &missing {
                if txn.get(ik)?.is_none() {
                    problem(
                        &mut r,
                        format!("entry {:?} has no index record", &ik[INDEX_OVERHEAD..]),
                    );
                }
            }
            r.index_records = index.len() as u64;
            for k in &index {
                match split_index_key(k) {
                    None => problem(&mut r, format!("index record {k:?} is malformed")),
                    Some((d, ek)) => match txn.get(ek)?.and_then(Header::decode) {
                        Some((h, _)) if h.deadline == d => {}
                        _ => problem(
                            &mut r,
                            format!("index record {k:?} points at no entry with that deadline"),
                        ),
                    },
                }
            }
            Ok(r)
        })
    }
}
