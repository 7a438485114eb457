//! Links libtextgen with what `pkg-config --libs textgen` says (the program, not a crate: no
//! registry is needed). PKG_CONFIG names another pkg-config; PKG_CONFIG_PATH finds a prefix.
//! A prefix outside the loader's path needs LD_LIBRARY_PATH at run time (docs/bindings.md).
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&pkg_config)
        .args(["--libs", "textgen"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {} (install pkg-config)", pkg_config, e));
    if !out.status.success() {
        panic!(
            "`{} --libs textgen` failed: {}\nset PKG_CONFIG_PATH to the folder of textgen.pc",
            pkg_config,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let flags = String::from_utf8(out.stdout).expect("pkg-config printed non-UTF-8");
    let mut linked = false;
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
        } else if let Some(name) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={}", name);
            linked |= name == "textgen";
        }
    }
    if !linked {
        panic!("`{} --libs textgen` did not name -ltextgen: {}", pkg_config, flags.trim());
    }
}
