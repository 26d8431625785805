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

/// The recorded convolution: the checkpointed input and weight, and the geometry.
#[derive(Debug)]
struct DenseConv2dBackward;

impl<B: DenseConvBackend> Backward<B, 2> for DenseConv2dBackward {
    type State = (NodeId, NodeId, ConvGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, geometry) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_x {
            let dx = B::dense_conv2d_x_backward(weight, grad.clone(), geometry);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::dense_conv2d_weight_backward(x, grad, geometry);
            grads.register::<B>(node.id, dw);
        }
    }
}

/// The recorded transposed convolution. Its input gradient is the convolution it transposes;
/// its weight gradient is that convolution's weight gradient with the output gradient as input.
#[derive(Debug)]
struct DenseConvTranspose2dBackward;

impl<B: DenseConvBackend> Backward<B, 2> for DenseConvTranspose2dBackward {
    type State = (NodeId, NodeId, ConvGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, geometry) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_x {
            let dx = B::dense_conv2d(grad.clone(), weight, geometry);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::dense_conv2d_weight_backward(grad, x, geometry);
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: DenseConvBackend, C: CheckpointStrategy> DenseConvBackend for Autodiff<B, C> {
    fn dense_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        match DenseConv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out = B::dense_conv2d(x.into_primitive(), weight.into_primitive(), geometry);
                prep.finish((x_state, weight_state, geometry), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dense_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                geometry,
            )),
        }
    }

    fn dense_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        match DenseConvTranspose2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out = B::dense_conv_transpose2d(
                    x.into_primitive(),
                    weight.into_primitive(),
                    geometry,
                );
                prep.finish((x_state, weight_state, geometry), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dense_conv_transpose2d(
                x.into_primitive(),
                weight.into_primitive(),
                geometry,
            )),
        }
    }

    fn dense_conv2d_x_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        // Reached only when differentiating twice: the result is a constant for the graph.
        let dx =
            B::dense_conv2d_x_backward(weight.into_primitive(), grad.into_primitive(), geometry);
        FloatTensor::<Self>::new(dx)
    }

    fn dense_conv2d_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        // Reached only when differentiating twice: the result is a constant for the graph.
        let dw =
            B::dense_conv2d_weight_backward(x.into_primitive(), grad.into_primitive(), geometry);
        FloatTensor::<Self>::new(dw)
    }
}
