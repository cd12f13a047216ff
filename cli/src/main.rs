//! `ttlkv`: the operator's tool for ttlkv stores — stats, queries, writes, purge, verify,
//! backup, dump and load — over the library's public API only (see cli/README.md).

mod args;
mod bytes;
mod commands;
mod fail;
mod output;
mod procinfo;
mod units;

use clap::Parser;

use args::{Cli, Command};
use commands::{dump, entries, maintain, stats, Ctx};
use fail::Res;

fn run(cli: Cli) -> Res<()> {
    let ctx = Ctx {
        allow_shared_dir: cli.allow_shared_dir,
        no_progress: cli.no_progress,
    };
    let ctx = &ctx;
    match cli.command {
        Command::Stats {
            path,
            no_entries,
            json,
        } => stats::stats(ctx, &path, no_entries, json.json),
        Command::Namespaces { path, json, raw } => entries::namespaces(ctx, &path, json.json, raw.raw),
        Command::Keys {
            path,
            ns,
            prefix,
            limit,
            long,
            json,
            raw,
            hex,
        } => entries::keys(
            ctx,
            &path,
            entries::KeysArgs {
                ns: &ns,
                prefix: prefix.as_deref(),
                limit,
                long,
                json: json.json,
                raw: raw.raw,
                hex: hex.hex,
            },
        ),
        Command::Count { path, ns, json, hex } => entries::count(ctx, &path, &ns, json.json, hex.hex),
        Command::Get {
            entry,
            json,
            raw,
            hex,
        } => entries::get(ctx, &entry, json.json, raw.raw, hex.hex),
        Command::Ttl { entry, json, hex } => entries::ttl(ctx, &entry, json.json, hex.hex),
        Command::Put {
            entry,
            value,
            ttl,
            json,
            hex,
        } => entries::put(ctx, &entry, &value, &ttl, json.json, hex.hex),
        Command::Delete {
            path,
            ns,
            keys,
            json,
            hex,
        } => entries::delete(ctx, &path, &ns, &keys, json.json, hex.hex),
        Command::Touch {
            entry,
            ttl,
            json,
            hex,
        } => entries::touch(ctx, &entry, &ttl, json.json, hex.hex),
        Command::Incr {
            entry,
            by,
            ttl,
            json,
            hex,
        } => entries::incr(ctx, &entry, by, ttl.as_deref(), json.json, hex.hex),
        Command::Purge { path, json } => maintain::purge(ctx, &path, json.json),
        Command::Verify { path, json } => maintain::verify(ctx, &path, json.json),
        Command::Clear { path, ns, json, hex } => maintain::clear(ctx, &path, &ns, json.json, hex.hex),
        Command::Backup {
            path,
            dest,
            compact,
            json,
        } => maintain::backup(ctx, &path, &dest, compact, json.json),
        Command::Dump {
            path,
            ns,
            output,
            hex,
        } => dump::dump(ctx, &path, ns.as_deref(), output.as_deref(), hex.hex),
        Command::Load { path, file, json } => dump::load(ctx, &path, file.as_deref(), json.json),
    }
}

fn main() {
    // Usage errors exit 2 and --help/--version 0, as clap does.
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    // Every store is closed by the time `run` returns (each command owns its handle), so the
    // exit below cuts no expiry work short.
    let code = match run(cli) {
        Ok(()) => 0,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("ttlkv: {}", f.message);
            }
            f.code
        }
    };
    std::process::exit(code);
}
