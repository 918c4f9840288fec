//! The fused AdamW update ([`crate::kernels::adamw`]) on flex, in the parameter's and moments'
//! own buffers: no copy in or out where the buffers are contiguous and nobody else holds them
//! (a shared one is copied once, as flex's copy-on-write does for its own in-place ops).
//!
//! Other backends and dtypes get their operands back in `Err` and the caller runs Burn's AdamW.
//! ndarray is left out on purpose: reaching its buffers costs a copy each way, and the test
//! suite (which runs on ndarray) then keeps Burn's exact arithmetic in its reference values.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::kernels::adamw::AdamWStep;

/// A tensor and its two AdamW moments.
pub type WithMoments<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>);
/// The operands of [`step`], handed back when the backend does not take the fused path.
pub type Operands<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Option<(Tensor<B, D>, Tensor<B, D>)>);

/// One AdamW update of `param` with `grad`, from `moments` (`None`: zeros, the first step).
/// Returns the new parameter and moments on flex (f32); the operands in `Err` elsewhere.
///
/// # Shapes
/// - param, grad, each moment: the same shape `S` -> three tensors of shape `S`
pub fn step<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    grad: Tensor<B, D>,
    moments: Option<(Tensor<B, D>, Tensor<B, D>)>,
    settings: AdamWStep,
) -> Result<WithMoments<B, D>, Operands<B, D>> {
    #[cfg(feature = "flex")]
    {
        use super::fused::{host_f32, same};
        let shape = param.dims();
        let mut dtypes = vec![param.dtype(), grad.dtype()];
        if let Some((m, v)) = &moments {
            dtypes.extend([m.dtype(), v.dtype()]);
        }
        let shapes_agree = grad.dims() == shape && moments.as_ref().is_none_or(|(m, v)| m.dims() == shape && v.dims() == shape);
        if shapes_agree && host_f32(&dtypes) && std::any::TypeId::of::<B>() == std::any::TypeId::of::<super::FlexBackend>() {
            return Ok(same(flex::step::<D>(same(param), same(grad), same(moments), settings)));
        }
    }
    Err((param, grad, moments))
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::flex::FlexTensor;
    use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};

    use super::super::FlexBackend as F;
    use super::super::fused::primitive;
    use crate::kernels::adamw::{AdamWStep, step as update};

    /// The tensor as a buffer of exactly its elements in row-major order, copied only when its
    /// layout is not already that.
    fn dense(t: FlexTensor) -> FlexTensor {
        let n = t.layout().shape().num_elements();
        let whole = t.is_contiguous() && t.layout().start_offset() == 0 && t.storage::<f32>().len() == n;
        if whole { t } else { t.to_contiguous() }
    }

    fn tensor<const D: usize>(t: FlexTensor) -> Tensor<F, D> {
        Tensor::from_primitive(TensorPrimitive::Float(t))
    }

    pub fn step<const D: usize>(
        param: Tensor<F, D>,
        grad: Tensor<F, D>,
        moments: Option<(Tensor<F, D>, Tensor<F, D>)>,
        settings: AdamWStep,
    ) -> (Tensor<F, D>, Tensor<F, D>, Tensor<F, D>) {
        let shape = Shape::from(param.dims());
        let mut param = dense(primitive(param));
        let grad = dense(primitive(grad));
        let (mut m, mut v) = match moments {
            Some((m, v)) => (dense(primitive(m)), dense(primitive(v))),
            None => (FlexTensor::zeros(shape.clone(), DType::F32), FlexTensor::zeros(shape, DType::F32)),
        };
        update(param.storage_mut::<f32>(), grad.storage::<f32>(), m.storage_mut::<f32>(), v.storage_mut::<f32>(), settings);
        (tensor(param), tensor(m), tensor(v))
    }
}
