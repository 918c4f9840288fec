//! Helpers shared by the integration tests: the test backend, fixture paths, safetensors
//! readers and a closeness check that reports the tensor, max-abs-diff and first bad index.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub type TestBackend = burn::backend::NdArray<f32>;

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `../shared/data` beside the repository, when present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    dir.is_dir().then_some(dir)
}

fn tensor(path: &Path, name: &str) -> (Vec<u8>, safetensors::Dtype, Vec<usize>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{}: tensor {name}: {e}", path.display()));
    (t.data().to_vec(), t.dtype(), t.shape().to_vec())
}

pub fn read_f32(path: &Path, name: &str) -> (Vec<f32>, Vec<usize>) {
    let (data, dtype, shape) = tensor(path, name);
    assert_eq!(dtype, safetensors::Dtype::F32, "{name}");
    (data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(), shape)
}

pub fn read_i64(path: &Path, name: &str) -> (Vec<i64>, Vec<usize>) {
    let (data, dtype, shape) = tensor(path, name);
    assert_eq!(dtype, safetensors::Dtype::I64, "{name}");
    (data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(), shape)
}

/// Asserts `actual` is within `tol` of `expected` everywhere; on failure names the tensor, the
/// max-abs-diff and the first index beyond the tolerance.
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], tol: f32) {
    assert_eq!(actual.len(), expected.len(), "{what}: {} values, expected {}", actual.len(), expected.len());
    let mut max = 0f32;
    let mut first_bad = None;
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let d = (a - e).abs();
        if !(d <= tol) && first_bad.is_none() {
            first_bad = Some((i, *a, *e));
        }
        if d > max || d.is_nan() {
            max = d;
        }
    }
    if let Some((i, a, e)) = first_bad {
        panic!("{what}: max-abs-diff {max:e} > {tol:e}; first bad index {i}: got {a}, expected {e}");
    }
}

/// Runs the `recfound` binary from the repository root (so the repo's relative paths resolve).
pub fn recfound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running recfound")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = recfound(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "recfound {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail cleanly (non-zero exit, no panic); returns its stderr.
pub fn fails(args: &[&str]) -> String {
    let out = recfound(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "recfound {args:?} should fail");
    assert!(!stderr.contains("panicked"), "recfound {args:?} panicked: {stderr}");
    stderr
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
