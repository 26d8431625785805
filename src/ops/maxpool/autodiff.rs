//! The backward step of "same" max pooling for burn's `Autodiff` decorator: it keeps the input
//! and finds each window's winner again in the backward pass.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::MaxPoolBackend;

/// The recorded pooling: the checkpointed input, the window and the stride.
#[derive(Debug)]
struct MaxPool2dSameBackward;

impl<B: MaxPoolBackend> Backward<B, 1> for MaxPool2dSameBackward {
    type State = (NodeId, usize, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, kernel, stride) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        if let Some(node) = node_x {
            let dx = B::max_pool2d_same_backward(x, grad, kernel, stride);
            grads.register::<B>(node.id, dx);
        }
    }
}

impl<B: MaxPoolBackend, C: CheckpointStrategy> MaxPoolBackend for Autodiff<B, C> {
    fn max_pool2d_same(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self> {
        match MaxPool2dSameBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let out = B::max_pool2d_same(x.into_primitive(), kernel, stride);
                prep.finish((x_state, kernel, stride), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::max_pool2d_same(x.into_primitive(), kernel, stride))
            }
        }
    }

    fn max_pool2d_same_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
    ) -> FloatTensor<Self> {
        let _ = (x, grad, kernel, stride);
        crate::ops::no_second_order("max pooling")
    }
}
