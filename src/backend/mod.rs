//! The only module that names concrete Burn backends (DESIGN.md §9); `fused` is where the
//! CPU backends take the host kernels of [`crate::kernels`].
//!
//! Library code is generic over `B: Backend`; the CLI picks one of the backends below at run
//! time by name and calls the generic code through [`with_backend!`](crate::with_backend).

pub mod adamw;
pub mod fused;
pub mod linear;
pub mod rowwise;

use std::fmt;
use std::str::FromStr;

/// ndarray on f32: what the test suite and CI use.
#[cfg(feature = "ndarray")]
pub type NdArrayBackend = burn::backend::NdArray<f32>;
/// Burn's pure-Rust `flex` CPU backend (gemm kernels): faster than ndarray for decoding.
#[cfg(feature = "flex")]
pub type FlexBackend = burn::backend::Flex<f32>;
/// WebGPU/Vulkan/Metal through wgpu, for laptops.
#[cfg(feature = "wgpu")]
pub type WgpuBackend = burn::backend::Wgpu<f32>;
/// NVIDIA GPUs through CUDA.
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda<f32>;

/// The backend the library's unit tests run on (integration tests declare their own).
#[cfg(test)]
pub type TestBackend = burn::backend::NdArray<f32>;

/// A `[rows, cols]` test tensor from row-major values (unit tests' hand-computed cases).
#[cfg(test)]
pub fn test_matrix(values: &[f32], shape: [usize; 2]) -> burn::tensor::Tensor<TestBackend, 2> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values.to_vec(), shape), &Default::default())
}

/// A test tensor of smooth, distinct values `2 sin(0.618 (i + seed))`.
#[cfg(test)]
pub fn test_input<B: burn::tensor::backend::Backend, const D: usize>(shape: [usize; D], seed: f32) -> burn::tensor::Tensor<B, D> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i as f32 + seed) * 0.618).sin() * 2.0).collect();
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), &Default::default())
}

/// Asserts that two tensors have one shape and agree within 1e-4 (relative above 1).
#[cfg(test)]
pub fn assert_close<B: burn::tensor::backend::Backend, const D: usize>(what: &str, got: burn::tensor::Tensor<B, D>, want: burn::tensor::Tensor<B, D>) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes");
    let (got, want): (Vec<f32>, Vec<f32>) = (got.into_data().to_vec().unwrap(), want.into_data().to_vec().unwrap());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

/// Whether `B` is the backend `C`, with or without autodiff.
fn is_backend<B: burn::tensor::backend::Backend, C: burn::tensor::backend::Backend>() -> bool {
    use std::any::TypeId;
    let id = TypeId::of::<B>();
    id == TypeId::of::<C>() || id == TypeId::of::<burn::backend::Autodiff<C>>()
}

/// Whether `B` (with or without autodiff) is one of the CPU backends, where f32 is the fast
/// dtype (flex's bf16 products convert to f32 and back).
pub fn is_cpu<B: burn::tensor::backend::Backend>() -> bool {
    #[cfg(feature = "ndarray")]
    if is_backend::<B, NdArrayBackend>() {
        return true;
    }
    is_flex::<B>()
}

/// Whether `B` is flex, with or without autodiff.
pub fn is_flex<B: burn::tensor::backend::Backend>() -> bool {
    #[cfg(feature = "flex")]
    if is_backend::<B, FlexBackend>() {
        return true;
    }
    false
}

/// A backend chosen by name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    NdArray,
    Flex,
    Wgpu,
    Cuda,
}

impl BackendKind {
    /// Every backend, whether compiled in or not.
    pub const ALL: [BackendKind; 4] = [Self::NdArray, Self::Flex, Self::Wgpu, Self::Cuda];

    pub fn name(self) -> &'static str {
        match self {
            Self::NdArray => "ndarray",
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        }
    }

    /// Whether this build was compiled with the backend's cargo feature.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::NdArray => cfg!(feature = "ndarray"),
            Self::Flex => cfg!(feature = "flex"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backend used when none is asked for: a GPU when compiled in, else the fastest CPU
    /// backend measured in the book's benchmarks page (flex), else ndarray.
    pub fn default_compiled() -> Self {
        [Self::Cuda, Self::Wgpu, Self::Flex, Self::NdArray]
            .into_iter()
            .find(|b| b.is_compiled())
            .unwrap_or(Self::NdArray)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a backend name that is unknown or not compiled into this binary.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unknown backend `{0}` (expected one of: ndarray, flex, wgpu, cuda)")]
    Unknown(String),
    #[error("backend `{name}` is not compiled in: rebuild with `--features {name}`")]
    NotCompiled { name: &'static str },
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = Self::ALL
            .into_iter()
            .find(|b| b.name() == s.to_ascii_lowercase())
            .ok_or_else(|| BackendError::Unknown(s.to_string()))?;
        if kind.is_compiled() {
            Ok(kind)
        } else {
            Err(BackendError::NotCompiled { name: kind.name() })
        }
    }
}

/// Runs `$body` with the type alias `$B` bound to the backend `$kind` names and `$device` bound
/// to its default device. Each arm is compiled only when its feature is on.
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, |$B:ident, $device:ident| $body:expr) => {{
        match $kind {
            #[cfg(feature = "ndarray")]
            $crate::backend::BackendKind::NdArray => {
                type $B = $crate::backend::NdArrayBackend;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[cfg(feature = "flex")]
            $crate::backend::BackendKind::Flex => {
                type $B = $crate::backend::FlexBackend;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::backend::BackendKind::Wgpu => {
                type $B = $crate::backend::WgpuBackend;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::backend::BackendKind::Cuda => {
                type $B = $crate::backend::CudaBackend;
                let $device = burn::tensor::Device::<$B>::default();
                $body
            }
            #[allow(unreachable_patterns)]
            other => unreachable!("backend {other} passed FromStr but is not compiled in"),
        }
    }};
}
