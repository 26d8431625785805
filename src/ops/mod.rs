//! Custom tensor operations, registered with burn's backend-extension mechanism where burn's own
//! kernels are the bottleneck.

pub mod depthwise;
pub mod pointwise;

pub use depthwise::{DepthwiseConvBackend, depthwise_conv2d};
pub use pointwise::pointwise_conv2d;
