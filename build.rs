//! Generates the C header with cbindgen into OUT_DIR (tests/abi_header.rs compares it with the
//! committed include/ttlkv.h) and gives the shared library its soname.

use std::env;
use std::path::PathBuf;

/// Must equal `TTLKV_ABI_VERSION` in src/ffi/mod.rs (tests/abi_header.rs checks it): the
/// soname is libttlkv.so.<ABI version>.
const ABI_VERSION: u32 = 1;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libttlkv.so.{ABI_VERSION}");
    }

    let part = |name: &str| -> u32 {
        let v: u32 = env::var(name).unwrap().parse().expect("a numeric version part");
        assert!(
            v < 256,
            "{name} = {v} does not fit the 8 bits TTLKV_VERSION_NUMBER gives it"
        );
        v
    };
    let (major, minor, patch) = (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );
    let number = (major << 16) | (minor << 8) | patch;
    let version_macros = format!(
        "\n/* The version of ttlkv this header comes with (from Cargo.toml); ttlkv_version_number()\n \
         * gives the loaded library's. */\n\
         #define TTLKV_VERSION_MAJOR {major}\n\
         #define TTLKV_VERSION_MINOR {minor}\n\
         #define TTLKV_VERSION_PATCH {patch}\n\
         /* (TTLKV_VERSION_MAJOR << 16) | (TTLKV_VERSION_MINOR << 8) | TTLKV_VERSION_PATCH */\n\
         #define TTLKV_VERSION_NUMBER {number}\n"
    );

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(version_macros);
    let header = out_dir.join("ttlkv.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&header);
    println!("cargo:rustc-env=TTLKV_GENERATED_HEADER={}", header.display());
}
