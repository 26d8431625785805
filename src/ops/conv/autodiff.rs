//! The backward steps of the dense and the transposed convolution for burn's `Autodiff`
//! decorator: the forward pass runs on the inner backend and records the two inputs; the
//! backward pass calls the inner backend's gradient kernels.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::{ConvGeometry, DenseConvBackend};

/// A recorded dense or transposed convolution: the checkpointed input and weight, the geometry,
/// and which of the two it was.
#[derive(Debug)]
struct DenseConvBackward;

/// Which operation a [`DenseConvBackward`] step differentiates.
#[derive(Clone, Copy, Debug)]
enum Direction {
    Conv,
    /// A transposed convolution: its input gradient is the convolution it transposes, and its
    /// weight gradient that convolution's weight gradient with the output gradient as input.
    Transposed,
}

impl<B: DenseConvBackend> Backward<B, 2> for DenseConvBackward {
    type State = (NodeId, NodeId, ConvGeometry, Direction);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, geometry, direction) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_x {
            let dx = match direction {
                Direction::Conv => B::dense_conv2d_x_backward(weight, grad.clone(), geometry),
                Direction::Transposed => B::dense_conv2d(grad.clone(), weight, geometry),
            };
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = match direction {
                Direction::Conv => B::dense_conv2d_weight_backward(x, grad, geometry),
                Direction::Transposed => B::dense_conv2d_weight_backward(grad, x, geometry),
            };
            grads.register::<B>(node.id, dw);
        }
    }
}

/// Runs `forward` on the inner backend, recording the step when either input is tracked.
fn record<B: DenseConvBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    geometry: ConvGeometry,
    direction: Direction,
) -> FloatTensor<Autodiff<B, C>> {
    let forward = |x, weight| match direction {
        Direction::Conv => B::dense_conv2d(x, weight, geometry),
        Direction::Transposed => B::dense_conv_transpose2d(x, weight, geometry),
    };
    match DenseConvBackward
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let out = forward(x.into_primitive(), weight.into_primitive());
            prep.finish((x_state, weight_state, geometry, direction), out)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(x.into_primitive(), weight.into_primitive()))
        }
    }
}

impl<B: DenseConvBackend, C: CheckpointStrategy> DenseConvBackend for Autodiff<B, C> {
    fn dense_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        record::<B, C>(x, weight, geometry, Direction::Conv)
    }

    fn dense_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        record::<B, C>(x, weight, geometry, Direction::Transposed)
    }

    fn dense_conv2d_x_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        let _ = (weight, grad, geometry);
        crate::ops::no_second_order("a dense convolution")
    }

    fn dense_conv2d_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        let _ = (x, grad, geometry);
        crate::ops::no_second_order("a dense convolution")
    }
}
