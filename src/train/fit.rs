//! The training loop shared by both models: the recipe's optimizer and learning-rate schedule,
//! seeded shuffling, an exponential moving average of the weights, validation each epoch, an
//! atomic checkpoint each epoch (Ctrl-C or a crash loses at most one epoch), the best epoch's
//! weights kept apart, and `history.json`. A run directory holds the run's options
//! (`run.json`): `--resume` continues that run and refuses different options.

use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::ema::Ema;
use super::metrics::Confusion;
use super::recipe::learning_rate;
use super::run::{CheckpointPaths, io_err, save_model, start_run};
pub use super::run::{FitError, FitOptions, PartialEpoch, RunConfig, RunState, json, write_atomic};
use super::task::{Batch, LossConfig, Trainable};
use crate::card::EpochRecord;
use crate::data::datasets::Examples;

/// Mean loss and confusion of `model` over `examples`, without augmentation.
pub fn evaluate<M: Trainable>(
    model: &M,
    examples: &Examples,
    batch_size: usize,
    loss: &LossConfig,
    device: &Device,
) -> (f64, Confusion) {
    let model = model.valid();
    let mut confusion = Confusion::new(M::CLASSES);
    let mut loss_sum = 0.0;
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = Batch::gather(examples, chunk, None);
        let (x, y) = batch.to_tensors(device);
        let (batch_loss, predicted) = model.loss_and_predictions(x, y, loss);
        loss_sum += f64::from(batch_loss.into_scalar::<f32>()) * chunk.len() as f64;
        confusion.add(&batch.targets, &to_u8(predicted));
    }
    (loss_sum / examples.len().max(1) as f64, confusion)
}

fn to_u8(t: Tensor<1, Int>) -> Vec<u8> {
    t.into_data().iter::<i64>().map(|v| v as u8).collect()
}

fn progress(len: u64, epoch: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(epoch.to_string());
    bar
}

/// One optimizer step's loss, predictions and gradients.
pub struct TrainStep {
    /// Mean loss over the whole batch.
    pub loss: f64,
    /// Predicted class of every target element, in batch order.
    pub predicted: Vec<u8>,
    /// Gradients of the batch's mean loss, on the first device.
    pub grads: GradientsParams,
}

/// Computes one step data-parallel over `devices` (plain devices; the first holds `model` and
/// the optimizer): each device gets a replica of the model and a contiguous shard of the batch,
/// each shard's loss is weighted by its share of the batch, and the gradients are summed on the
/// first device, so they are the whole batch's mean gradient. Batch-norm statistics are those
/// of each shard, and only the first replica's running averages are kept (as in PyTorch's DDP
/// without SyncBatchNorm). With one device this is a plain training step.
pub fn train_step<M: Trainable>(
    model: &M,
    batch: &Batch,
    loss: &LossConfig,
    devices: &[Device],
) -> TrainStep {
    let main = devices.first().cloned().unwrap_or_else(Device::flex);
    let shards = batch.shards(devices.len().max(1));
    let total = batch.images.len().max(1) as f64;
    let mut accumulator = GradientsAccumulator::<M>::new();
    let (mut loss_sum, mut predicted) = (0.0, Vec::with_capacity(batch.targets.len()));
    for (i, shard) in shards.iter().enumerate() {
        let device = devices.get(i).unwrap_or(&main).clone().autodiff();
        let replica = if i == 0 {
            model.clone()
        } else {
            model.clone().fork(&device)
        };
        let (x, y) = shard.to_tensors(&device);
        let (shard_loss, shard_predicted) = replica.loss_and_predictions(x, y, loss);
        let weight = shard.images.len() as f64 / total;
        let grads = GradientsParams::from_grads((shard_loss.clone() * weight).backward(), &replica)
            .to_device(&main, &replica);
        accumulator.accumulate(model, grads);
        loss_sum += f64::from(shard_loss.inner().into_scalar::<f32>()) * weight;
        predicted.extend(to_u8(shard_predicted.inner()));
    }
    TrainStep {
        loss: loss_sum,
        predicted,
        grads: accumulator.grads(),
    }
}

/// Trains `model` (built on the first of `devices`, plain) data-parallel over `devices` and
/// returns the best epoch's model (the weight average when the recipe keeps one) with the
/// run's state. Checkpoints go to `options.out`.
pub fn fit<M: Trainable>(
    model: M,
    train: &Examples,
    valid: &Examples,
    options: &FitOptions,
    devices: &[Device],
) -> Result<(M, RunState), FitError> {
    let device = devices.first().ok_or(FitError::NoDevice)?;
    if train.is_empty() {
        return Err(FitError::EmptySplit("training"));
    }
    if valid.is_empty() {
        return Err(FitError::EmptySplit("validation"));
    }
    std::fs::create_dir_all(&options.out).map_err(|e| io_err(&options.out, e))?;
    let paths = CheckpointPaths::new(&options.out);
    start_run(&paths, options)?;
    let run = &options.run;
    let train_device = device.clone().autodiff();
    let mut state = RunState::default();
    let mut model = model;
    let mut ema =
        (run.recipe.ema_decay > 0.0).then(|| Ema::new(model.clone(), run.recipe.ema_decay));
    if options.resume {
        // Loading restores the saved parameter ids, which the optimizer's groups (no weight
        // decay on batch norm and biases) and the weight average are matched by: both are
        // built from the loaded model, never from the freshly initialised one.
        (model, state) = paths.load(model)?;
        if let Some(ema) = &mut ema {
            ema.model = paths.load_ema(model.clone())?;
        }
    }
    let mut optim = run.recipe.optimizer(&model);
    if options.resume {
        optim = paths.load_optimizer(optim)?;
        eprintln!(
            "resuming {} after epoch {} ({} steps)",
            M::NAME,
            state.epochs_done,
            state.steps_done
        );
    }
    // The CPU kernels' instruction sets, fixed per CPU: a run's bits depend on them.
    eprintln!(
        "{}: CPU kernels {}, matrix products with {} kernels",
        M::NAME,
        crate::ops::isa::instruction_set().name(),
        crate::ops::kernel_set().name()
    );
    state.commands.push(options.command.clone());
    if state.estimated_minutes.is_none() {
        state.estimated_minutes = options.estimated_minutes;
    }
    let mut model = model.fork(&train_device).train();
    let steps_per_epoch = train.len().div_ceil(run.batch_size);
    let started = Instant::now();
    let wall_before = state.wall_seconds;

    let spent = stop_reason(&state, options).filter(|_| state.epochs_done > 0);
    if let Some(why) = &spent {
        eprintln!("{}: not training further ({why})", M::NAME);
    }
    let remaining = if spent.is_some() { 0 } else { run.epochs };
    for epoch in state.epochs_done + 1..=remaining {
        let epoch_start = Instant::now();
        let mut rng = StdRng::seed_from_u64(run.seed.wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let bar = progress(steps_per_epoch as u64, epoch, options.quiet);
        // A resumed partial epoch continues after the batches it already trained.
        let partial = state
            .partial_epoch
            .take()
            .filter(|p| p.epoch == epoch)
            .unwrap_or_default();
        bar.inc(partial.steps as u64);
        let (mut loss_sum, mut seen) = (partial.loss_sum, partial.seen);
        let mut confusion = Confusion::new(M::CLASSES);
        if partial.counts.len() == confusion.counts.len() {
            confusion.counts = partial.counts;
        }
        let mut steps_in_epoch = partial.steps;
        let mut lr = learning_rate(&run.schedule, state.steps_done);
        for chunk in order.chunks(run.batch_size).skip(partial.steps) {
            if options.max_steps.is_some_and(|max| state.steps_done >= max) {
                break;
            }
            let batch = Batch::gather(train, chunk, Some((&run.augment, &mut rng)));
            let step = train_step(&model, &batch, &run.loss, devices);
            lr = learning_rate(&run.schedule, state.steps_done);
            model = optim.step(lr, model, step.grads);
            if let Some(ema) = &mut ema {
                ema.update(&model, state.steps_done);
            }
            state.steps_done += 1;
            steps_in_epoch += 1;
            loss_sum += step.loss * chunk.len() as f64;
            seen += chunk.len();
            confusion.add(&batch.targets, &step.predicted);
            let rate = seen as f64 / epoch_start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {:.4} acc {:.3} lr {lr:.2e} {rate:.1} img/s",
                loss_sum / seen as f64,
                confusion.accuracy()
            ));
            bar.inc(1);
        }
        if steps_in_epoch < steps_per_epoch {
            // `--max-steps` stopped the epoch before its end: not an epoch done, a place to
            // resume from.
            bar.finish_and_clear();
            state.partial_epoch = Some(PartialEpoch {
                epoch,
                steps: steps_in_epoch,
                loss_sum,
                seen,
                counts: confusion.counts,
                seconds: partial.seconds + epoch_start.elapsed().as_secs_f64(),
            });
            state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
            paths.save(&model, ema.as_ref().map(|e| &e.model), &optim, &state)?;
            eprintln!(
                "{}: stopping in epoch {epoch} after {steps_in_epoch} of its {steps_per_epoch} steps (--max-steps); --resume continues it",
                M::NAME
            );
            break;
        }
        bar.finish_and_clear();
        let train_seconds = partial.seconds + epoch_start.elapsed().as_secs_f64();
        let scored = ema
            .as_ref()
            .map_or_else(|| model.valid(), |e| e.model.clone());
        let (val_loss, val_confusion) = evaluate(&scored, valid, run.batch_size, &run.loss, device);
        let record = EpochRecord {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            accuracy: confusion.accuracy(),
            val_loss,
            val_accuracy: val_confusion.accuracy(),
            val_mean_iou: (M::CLASSES > 2).then(|| val_confusion.mean_iou()),
            images_per_s: seen as f64 / train_seconds,
            lr,
            seconds: partial.seconds + epoch_start.elapsed().as_secs_f64(),
        };
        log_epoch::<M>(&record, run.epochs);
        let score = M::score(&record);
        let improved = state.best_score.is_none_or(|best| score > best);
        state.history.push(record);
        state.epochs_done = epoch;
        state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
        if improved {
            state.best_score = Some(score);
            state.best_epoch = Some(epoch);
            save_model(scored, &paths.best)?;
        }
        paths.save(&model, ema.as_ref().map(|e| &e.model), &optim, &state)?;
        let curves = options.out.join("curves.png");
        if let Err(e) = super::curves::write_curves(&state.history, M::NAME, &curves) {
            eprintln!("warning: {e}");
        }
        if let Some(why) = stop_reason(&state, options) {
            eprintln!("{}: stopping after epoch {epoch} ({why})", M::NAME);
            break;
        }
    }
    // Before any epoch is complete there is no best epoch yet: the model as it is.
    let best = if paths.best.exists() {
        paths.load_best(model.valid())?
    } else {
        ema.map_or_else(|| model.valid(), |e| e.model)
    };
    Ok((best, state))
}

/// Why the run should stop now, if it should: out of time, out of steps, or no better
/// validation score for `--patience` epochs. Checked after every epoch, and before the first
/// epoch of a resumed run (`--resume --max-minutes 0 --ship …` ships a stopped run's best epoch
/// without training further).
fn stop_reason(state: &RunState, options: &FitOptions) -> Option<String> {
    let out_of_time = options
        .max_minutes
        .is_some_and(|m| state.wall_seconds >= m * 60.0);
    let stalled = state
        .best_epoch
        .is_some_and(|b| state.epochs_done >= b + options.patience);
    let out_of_steps = options.max_steps.is_some_and(|max| state.steps_done >= max);
    (out_of_time || stalled || out_of_steps)
        .then(|| format!("time {out_of_time}, no improvement {stalled}, steps {out_of_steps}"))
}

fn log_epoch<M: Trainable>(record: &EpochRecord, epochs: usize) {
    eprintln!(
        "{} epoch {}/{epochs}: loss {:.4} acc {:.4} | val_loss {:.4} val_acc {:.4}{} | lr {:.2e} | {:.1} img/s, {:.0} s",
        M::NAME,
        record.epoch,
        record.loss,
        record.accuracy,
        record.val_loss,
        record.val_accuracy,
        record
            .val_mean_iou
            .map(|m| format!(" val_mIoU {m:.4}"))
            .unwrap_or_default(),
        record.lr,
        record.images_per_s,
        record.seconds
    );
}
