//! The backward step of the depthwise convolution for burn's `Autodiff` decorator: the forward
//! pass runs on the inner backend and records the two inputs; the backward pass calls the inner
//! backend's gradient kernels.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::DepthwiseConvBackend;

/// The recorded depthwise convolution: the checkpointed input and weight, and the padding.
#[derive(Debug)]
struct DepthwiseConv2dBackward;

impl<B: DepthwiseConvBackend> Backward<B, 2> for DepthwiseConv2dBackward {
    type State = (NodeId, NodeId, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, padding) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_x {
            let dx =
                B::depthwise_conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), padding);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::depthwise_conv2d_weight_backward(x, weight, grad, padding);
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: DepthwiseConvBackend, C: CheckpointStrategy> DepthwiseConvBackend for Autodiff<B, C> {
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        match DepthwiseConv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out = B::depthwise_conv2d(x.into_primitive(), weight.into_primitive(), padding);
                prep.finish((x_state, weight_state, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::depthwise_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                padding,
            )),
        }
    }

    fn depthwise_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let _ = (x, weight, grad, padding);
        crate::ops::no_second_order("a depthwise convolution")
    }

    fn depthwise_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let _ = (x, weight, grad, padding);
        crate::ops::no_second_order("a depthwise convolution")
    }
}
