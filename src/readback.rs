//! Reading tensors back from their device: asynchronously, because the browser cannot block on
//! the GPU. Every read in the pipeline and the interpretability views goes through here, with
//! one error type.

use burn::prelude::*;

/// A read that failed or came back without values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadbackError {
    #[error("reading {what} back from the device failed: {why}")]
    Device { what: &'static str, why: String },
    #[error("{what} came back empty")]
    Empty { what: &'static str },
}

/// The values of `tensor` as `f32`, row-major. `what` names it in an error.
pub async fn read_floats<const D: usize>(
    tensor: Tensor<D>,
    what: &'static str,
) -> Result<Vec<f32>, ReadbackError> {
    let failed = |e: &dyn std::fmt::Debug| ReadbackError::Device {
        what,
        why: format!("{e:?}"),
    };
    let values = tensor
        .into_data_async()
        .await
        .map_err(|e| failed(&e))?
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| failed(&e))?;
    if values.is_empty() {
        return Err(ReadbackError::Empty { what });
    }
    Ok(values)
}

/// The first value of `tensor` (a loss, a probability).
pub async fn read_scalar<const D: usize>(
    tensor: Tensor<D>,
    what: &'static str,
) -> Result<f32, ReadbackError> {
    Ok(read_floats(tensor, what).await?[0])
}
