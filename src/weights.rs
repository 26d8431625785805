//! Weights as bytes, in burn's record format (burnpack), stored as f16 to halve the download.
//! Kept apart from everything else so that the browser (which fetches the bytes) and the
//! trainer (which writes them) share one tested path.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("the weights file is not a readable burn record (truncated or corrupt?): {0}")]
    Unreadable(String),
    #[error("the weights do not fit this model (an older or different model?): {0}")]
    Mismatch(String),
}

/// Casts every float parameter to a dtype; BatchNorm running statistics are not parameters
/// and stay f32.
struct CastParams(DType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// Serialises a module's parameters, in f16 when `half` is set.
pub fn to_bytes<M: Module>(module: M, half: bool) -> Result<Vec<u8>, WeightsError> {
    let module = if half {
        module.map(&mut CastParams(DType::F16))
    } else {
        module
    };
    module
        .into_record()
        .into_bytes()
        .map(|bytes| bytes.to_vec())
        .map_err(|e| WeightsError::Unreadable(e.to_string()))
}

/// Loads parameters into a freshly built module (of the right architecture), casting them to
/// the module's own dtype. Never panics on bad bytes: truncated files and records of another
/// model come back as errors the page can show.
pub fn from_bytes<M: Module>(module: M, bytes: &[u8]) -> Result<M, WeightsError> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| WeightsError::Unreadable(e.to_string()))?
        .cast_to_module_dtype();
    module
        .try_load_record(record)
        .map_err(|e| WeightsError::Mismatch(e.to_string()))
}
