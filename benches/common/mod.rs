//! Helpers shared by the harness-less benches that `bench/*.py` drive: `--key value` arguments
//! and the process's peak resident memory.
#![allow(dead_code)]

use std::collections::HashMap;

/// `--key value` pairs of the command line; anything else (`cargo bench` passes `--bench`) is
/// skipped.
pub fn flag_values() -> HashMap<String, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut flags = HashMap::new();
    let mut i = 0;
    while i < argv.len() {
        match (argv[i].strip_prefix("--"), argv.get(i + 1)) {
            (Some(key), Some(value)) if !value.starts_with("--") => {
                flags.insert(key.to_string(), value.clone());
                i += 2;
            }
            _ => i += 1,
        }
    }
    flags
}

/// `flags[key]` parsed, or `default` when absent; a malformed value panics naming the flag.
pub fn flag<T: std::str::FromStr>(flags: &HashMap<String, String>, key: &str, default: T) -> T {
    flags.get(key).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("--{key}: cannot parse `{v}`")))
}

/// Peak resident set size (VmHWM) in MiB, on Linux.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Tunes the allocator as the `recfound` binary does at start-up, unless `--system-malloc true`
/// asks for glibc's defaults (to measure what the tuning buys). Returns whether it was tuned.
pub fn tune_allocator(flags: &HashMap<String, String>) -> bool {
    !flag(flags, "system-malloc", false) && recfound::allocator::retain_freed_memory()
}
