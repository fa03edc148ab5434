//! Compiles rvs's XDP program (bpf/rvs_xdp.c) with clang for the BPF target;
//! the object is embedded in the binary.
use std::process::Command;

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let obj = format!("{out}/rvs_xdp.o");
    println!("cargo:rerun-if-changed=bpf/rvs_xdp.c");
    let arch_inc = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I{arch_inc}"))
        .args(["-c", "bpf/rvs_xdp.c", "-o", &obj])
        .status()
        .expect("clang is needed to build rvs's XDP program (scripts/setup installs it)");
    assert!(status.success(), "clang failed to compile bpf/rvs_xdp.c");
}
