//! The backward step of training-mode batch norm for burn's `Autodiff` decorator.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{Shape, Slice};

use super::BatchNormBackend;

/// The recorded batch norm: checkpointed input and scale, the batch statistics and epsilon.
#[derive(Debug)]
struct BatchNormBackward;

impl<B: BatchNormBackend> Backward<B, 3> for BatchNormBackward {
    type State = (NodeId, NodeId, FloatTensor<B>, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, stats, epsilon) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let gamma: FloatTensor<B> = checkpointer.retrieve_node_output(gamma_state);
        let param_grads =
            B::batch_norm_param_grads(x.clone(), grad.clone(), stats.clone(), epsilon);
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, row::<B>(param_grads.clone(), 0));
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, row::<B>(param_grads.clone(), 1));
        }
        if let Some(node) = node_x {
            let dx = B::batch_norm_input_grad(x, grad, gamma, stats, param_grads, epsilon);
            grads.register::<B>(node.id, dx);
        }
    }
}

/// Row `i` of a `[2, c]` tensor, as `[c]`.
fn row<B: Backend>(pairs: FloatTensor<B>, i: usize) -> FloatTensor<B> {
    let channels = pairs.shape()[1];
    let row = B::float_slice(pairs, &[Slice::from(i..i + 1), Slice::full()]);
    B::float_reshape(row, Shape::new([channels]))
}

impl<B: BatchNormBackend, C: CheckpointStrategy> BatchNormBackend for Autodiff<B, C> {
    fn batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::batch_stats(x.into_primitive()))
    }

    fn batch_norm_with(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let stats = stats.into_primitive();
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let out = B::batch_norm_with(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    stats.clone(),
                    epsilon,
                );
                prep.finish((x_state, gamma_state, stats, epsilon), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::batch_norm_with(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                stats,
                epsilon,
            )),
        }
    }

    fn batch_norm_relu_inference(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        ceiling: f32,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::batch_norm_relu_inference(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            stats.into_primitive(),
            epsilon,
            ceiling,
        ))
    }

    fn batch_norm_param_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let _ = (x, grad, stats, epsilon);
        crate::ops::no_second_order("batch normalisation")
    }

    fn batch_norm_input_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        param_grads: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let _ = (x, grad, gamma, stats, param_grads, epsilon);
        crate::ops::no_second_order("batch normalisation")
    }
}
