//! The committed header is the generated one, compiles alone as C11 and C++17, carries the
//! right version numbers, and declares exactly the symbols the library exports.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed() -> String {
    std::fs::read_to_string(root().join("include/ttlkv.h")).expect("include/ttlkv.h")
}

/// target/<profile>, where cargo put the libraries of this build.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the header has no {name}"))
        .trim()
        .to_string()
}

#[test]
fn committed_header_is_the_generated_one() {
    let generated_path = env!("TTLKV_GENERATED_HEADER");
    let generated = std::fs::read_to_string(generated_path).unwrap();
    assert!(
        committed() == generated,
        "include/ttlkv.h differs from the header cbindgen generates from src/ffi/.\n\
         Refresh it with `make header` (or: cp {generated_path} include/ttlkv.h), \
         review the diff and commit it."
    );
}

#[test]
fn version_macros_come_from_cargo_and_pack_major_minor_patch() {
    let h = committed();
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
    assert_eq!(define(&h, "TTLKV_VERSION_MAJOR"), major.to_string());
    assert_eq!(define(&h, "TTLKV_VERSION_MINOR"), minor.to_string());
    assert_eq!(define(&h, "TTLKV_VERSION_PATCH"), patch.to_string());
    let packed = (major << 16) | (minor << 8) | patch;
    assert_eq!(define(&h, "TTLKV_VERSION_NUMBER"), packed.to_string());
    assert_eq!(ttlkv::ffi::ttlkv_version_number(), packed);
    assert_eq!(ttlkv::ffi::VERSION_NUMBER, packed);
    // Each part lands in its own byte: 0.1.0 is 0x000100, not 0x000101 (minor in patch's place).
    assert_eq!(packed >> 16, major);
    assert_eq!((packed >> 8) & 0xff, minor);
    assert_eq!(packed & 0xff, patch);
    let text = unsafe { std::ffi::CStr::from_ptr(ttlkv::ffi::ttlkv_version()) }
        .to_str()
        .unwrap();
    assert!(
        text.starts_with(&format!("ttlkv {major}.{minor}.{patch} (LMDB 0.9.")),
        "{text}"
    );
}

#[test]
fn abi_version_is_in_the_header_the_function_and_the_soname() {
    let h = committed();
    let abi = ttlkv::ffi::TTLKV_ABI_VERSION;
    assert_eq!(define(&h, "TTLKV_ABI_VERSION"), abi.to_string());
    assert_eq!(ttlkv::ffi::ttlkv_abi_version(), abi);
    let so = profile_dir().join("libttlkv.so");
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&so)
        .output()
        .expect("readelf (binutils)");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(
        dynamic.contains(&format!("Library soname: [libttlkv.so.{abi}]")),
        "{} has no soname libttlkv.so.{abi} (build.rs sets it):\n{dynamic}",
        so.display()
    );
}

#[test]
fn header_declares_exactly_the_exported_functions() {
    let h = committed();
    let mut declared: Vec<String> = h
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('/'))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?;
            name.starts_with("ttlkv_").then(|| name.to_string())
        })
        .collect();
    declared.sort();
    let so = profile_dir().join("libttlkv.so");
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm (binutils)");
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("ttlkv_"))
        .map(String::from)
        .collect();
    exported.sort();
    assert!(declared.len() >= 35, "found only {declared:?}");
    assert_eq!(declared, exported, "header declarations vs. exported symbols");
    // The test-only panic trigger is Rust-only: neither a symbol nor in the header.
    assert!(!h.contains("debug"), "the header mentions a debug hook");
}

fn compile(compiler: &str, std: &str, src: &Path) {
    let out = Command::new(compiler)
        .args([std, "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only"])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(src)
        .output()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {std}: the header does not compile alone:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const USES_EVERY_NAME: &str = r#"#include "ttlkv.h"
/* Uses the types and constants, so that warnings about them show. */
static ttlkv_status use_all(ttlkv_store *s) {
  ttlkv_record r = {0, 0, 0, 0, 0, 0, TTLKV_TTL_NEVER};
  ttlkv_buf b = {0, 0};
  ttlkv_status st = ttlkv_put_many(s, &r, 1);
  (void)b;
  if (st == TTLKV_OK || st == TTLKV_PANIC) return TTLKV_NOT_FOUND;
  return (ttlkv_status)(TTLKV_ABI_VERSION + TTLKV_VERSION_NUMBER + TTLKV_DURABILITY_SYNC +
                        TTLKV_DURABILITY_PERIODIC + TTLKV_STAT_USED_BYTES);
}
int main(void) { return (int)use_all(0) + (TTLKV_DEADLINE_NEVER == 0); }
"#;

#[test]
fn header_compiles_alone_as_c11_and_cpp17_with_pedantic_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("alone.c");
    std::fs::write(&c, "#include \"ttlkv.h\"\n").unwrap();
    compile("cc", "-std=c11", &c);
    let cpp = dir.path().join("alone.cpp");
    std::fs::write(&cpp, "#include \"ttlkv.h\"\n").unwrap();
    compile("c++", "-std=c++17", &cpp);
    let c = dir.path().join("uses.c");
    std::fs::write(&c, USES_EVERY_NAME).unwrap();
    compile("cc", "-std=c11", &c);
    let cpp = dir.path().join("uses.cpp");
    std::fs::write(&cpp, USES_EVERY_NAME).unwrap();
    compile("c++", "-std=c++17", &cpp);
}
