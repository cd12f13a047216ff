//! The commands, and how each opens its store: through the public API only, with a small
//! initial map (the map grows on demand and is never smaller than the file, so a read command
//! does not extend data.mdb), and never creating a store where there is none except `load`.

pub mod dump;
pub mod entries;
pub mod maintain;
pub mod stats;

use std::io::ErrorKind as IoKind;
use std::path::Path;

use ttlkv::{Options, Store};

use crate::bytes::escape;
use crate::fail::{exit, Failure, Res};

/// What every command gets from the global flags.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub allow_shared_dir: bool,
    pub no_progress: bool,
}

/// The smallest map the library takes; it is raised to the file's length at open.
const SMALL_MAP: usize = 16 << 10;

fn options(ctx: &Ctx, map_size: usize) -> Options {
    Options::default()
        .map_size(map_size)
        .allow_shared_dir(ctx.allow_shared_dir)
}

/// Opens the store at `path`, refusing a path that holds none (`Store::open` would create
/// one: a mistyped path must not become an empty store that answers "not found").
pub fn open_existing(path: &Path, ctx: &Ctx) -> Res<Store> {
    let no_store = |why: &str| {
        Failure::new(
            exit::NO_STORE,
            format!("{}: no store here: {why}", path.display()),
        )
    };
    let io = |e: std::io::Error| {
        let code = if e.kind() == IoKind::PermissionDenied {
            exit::PERMISSION
        } else {
            exit::STORAGE
        };
        Failure::new(code, format!("{}: {e}", path.display()))
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == IoKind::NotFound => return Err(no_store("the directory does not exist")),
        Err(e) => return Err(io(e)),
        Ok(m) if !m.is_dir() => return Err(no_store("it is not a directory")),
        Ok(_) => {}
    }
    match std::fs::symlink_metadata(path.join("data.mdb")) {
        Err(e) if e.kind() == IoKind::NotFound => {
            return Err(no_store(
                "the directory holds no data.mdb (only `ttlkv load` creates a store)",
            ))
        }
        Err(e) => return Err(io(e)),
        Ok(_) => {}
    }
    Store::open(path, options(ctx, SMALL_MAP)).map_err(|e| shared_dir_hint(path, e))
}

/// The library's advice for a shared directory names the option in every language; the
/// command's own spelling is added.
fn shared_dir_hint(path: &Path, e: ttlkv::Error) -> Failure {
    let hint = e.kind() == ttlkv::ErrorKind::Permission && e.message().contains("allow_shared_dir");
    let mut f = crate::fail::store(path, e);
    if hint {
        f.message.push_str("; with this command: --allow-shared-dir");
    }
    f
}

/// Opens the store at `path`, creating it when absent (`load`); true when it was created.
pub fn open_or_create(path: &Path, ctx: &Ctx) -> Res<(Store, bool)> {
    let existed = path.join("data.mdb").exists();
    let store =
        Store::open(path, options(ctx, Options::default().map_size)).map_err(|e| shared_dir_hint(path, e))?;
    Ok((store, !existed))
}

/// `"key"` for a message, escaped.
pub fn quoted(bytes: &[u8]) -> String {
    format!("\"{}\"", escape(bytes))
}

/// No live entry `key` in `ns`.
pub fn not_found(path: &Path, ns: &[u8], key: &[u8]) -> Failure {
    Failure::new(
        exit::NOT_FOUND,
        format!(
            "{}: no live entry {} in namespace {}",
            path.display(),
            quoted(key),
            quoted(ns)
        ),
    )
}

/// A deadline as JSON: milliseconds, or null for never.
pub fn deadline_json(deadline: u64) -> serde_json::Value {
    if deadline == ttlkv::DEADLINE_NEVER {
        serde_json::Value::Null
    } else {
        deadline.into()
    }
}
