"""Retraining a derived network: the training model, schedules, callbacks and checkpoints.

`Trainer` wraps a network from `network.build_network` for `fit`: its train_step is DARTS's
evaluation step, traced once:
  loss = CE(logits) [+ auxiliary_weight * CE(aux logits)], label smoothing optional;
  gradients clipped to a global norm (grad_clip, on the loss gradient as torch's clip_grad_norm_);
  L2 weight decay added to the clipped gradient (PyTorch SGD's coupled weight_decay, on every
  trainable weight as DARTS does), then SGD with momentum.
Under a tf.distribute strategy the batch is global; each replica's loss is divided by the number
of replicas so the summed gradient is the global-batch mean.

Checkpoints (tf.train.CheckpointManager): the network's weights, the optimizer's state (momentum
buffers and iteration count, which drives the learning-rate schedule), the epoch and the best
accuracy, written at every epoch end. Resuming restores all of them and continues with the next
epoch; the data order of an epoch depends on (seed, epoch) only.
"""

import contextlib
import dataclasses
import json
import math
import os
import time
from typing import Dict, Optional

import keras
import tensorflow as tf

from rc_darts_tf import io_utils
from rc_darts_tf import network as network_lib
from rc_darts_tf import precision


class Trainer(keras.Model):
  """fit()/evaluate() wrapper of a derived network (see module doc)."""

  def __init__(self, network: keras.Model, num_classes: int, auxiliary_weight: float = 0.4,
               weight_decay: float = 3e-4, label_smoothing: float = 0.0, grad_clip: float = 5.0,
               **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.num_classes = num_classes
    self.auxiliary = isinstance(network.output, dict)
    self.auxiliary_weight = auxiliary_weight
    self.weight_decay = weight_decay
    self.label_smoothing = label_smoothing
    self.grad_clip = grad_clip
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

  @property
  def metrics(self):
    """[loss (Mean of the main head's cross-entropy), accuracy (top-1)]."""
    return [self.loss_tracker, self.accuracy]

  def call(self, x, training=False):
    out = self.network(x, training=training)
    return out["logits"] if self.auxiliary else out

  def cross_entropy(self, labels, logits, per_example=False):
    """Mean cross-entropy of the batch (or the [B] per-example values)."""
    target = tf.one_hot(labels, self.num_classes)
    if self.label_smoothing:
      target = target * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
    logits = tf.cast(logits, tf.float32)     # float16 under mixed precision
    losses = tf.nn.softmax_cross_entropy_with_logits(target, logits)
    return losses if per_example else tf.reduce_mean(losses)

  def train_step(self, data):
    """One DARTS evaluation step (DARTS cnn/train.py) on data = (x [B, H, W, 3], y [B]): CE
    plus auxiliary_weight · the auxiliary head's CE, divided by the replicas; gradients clipped
    to grad_clip / replicas, L2 weight decay added, then the optimizer (mixed precision: with
    the loss scale). The loss metric tracks the main head's CE only. Returns the metrics."""
    x, y = data
    variables = self.network.trainable_variables
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
      out = self.network(x, training=True)
      logits = out["logits"] if self.auxiliary else out
      loss = self.cross_entropy(y, logits)
      total = loss
      if self.auxiliary:
        total = total + self.auxiliary_weight * self.cross_entropy(y, out["aux"])
      scaled = total / replicas
      scale = precision.scale_of(self.optimizer, variables)   # mixed precision: loss scale S
      if scale is not None:
        scaled = scaled * scale
    grads = precision.unscale(tape.gradient(scaled, variables), scale)
    if self.grad_clip:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_clip / replicas)
    if self.weight_decay:
      grads = [g + (self.weight_decay / replicas) * v for g, v in zip(grads, variables)]
    precision.apply(self.optimizer, grads, variables, scale)
    self.loss_tracker.update_state(loss)
    self.accuracy.update_state(y, logits)
    return {m.name: m.result() for m in self.metrics}

  def test_step(self, data):
    """Inference-mode logits of data = (x [B, H, W, 3], y [B]); updates the loss (per
    example, so batches weigh by size) and accuracy; returns the metrics."""
    x, y = data
    logits = self(x, training=False)
    # per example: a smaller last batch weighs by its size (the mean over the images, as
    # evaluate_network reports it)
    self.loss_tracker.update_state(self.cross_entropy(y, logits, per_example=True))
    self.accuracy.update_state(y, logits)
    return {m.name: m.result() for m in self.metrics}


def learning_rate_schedule(kind: str, learning_rate: float, steps_per_epoch: int, epochs: int,
                           learning_rate_min: float = 0.0, decay_rate: float = 0.97):
  """cosine: DARTS's CIFAR recipe (to learning_rate_min over all steps); exponential: ×decay_rate
  per epoch (DARTS's ImageNet recipe)."""
  if kind == "cosine":
    return keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(1, epochs * steps_per_epoch),
        alpha=learning_rate_min / learning_rate)
  if kind == "exponential":
    return keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=max(1, steps_per_epoch), decay_rate=decay_rate, staircase=True)
  raise ValueError(f"unknown learning-rate schedule {kind!r}: cosine or exponential")


@dataclasses.dataclass
class Retraining:
  """What `prepare_retraining` builds: the network (`network.build_network`: [B, S, S, 3] ->
  [B, K] logits, or {"logits", "aux_logits"} with the auxiliary head), the compiled Trainer and
  its SGD optimizer (built), the data split (data.RetrainData: batched train / test datasets),
  the steps per epoch, the network plan and its exact cost (costs.Cost: params, MACs)."""

  network: keras.Model
  trainer: Trainer
  optimizer: keras.optimizers.Optimizer
  split: object
  steps_per_epoch: int
  plan: object
  exact: object


def prepare_retraining(genotype, source, init_channels: int, layers: int, stem: str, *,
                       epochs: int, batch_size: int, seed: int, learning_rate: float,
                       learning_rate_min: float = 0.0, lr_schedule: str = "cosine",
                       lr_decay_rate: float = 0.97, momentum: float = 0.9,
                       weight_decay: float = 3e-4, label_smoothing: float = 0.0,
                       grad_clip: float = 5.0, auxiliary: bool = False,
                       auxiliary_weight: float = 0.4, cutout_length: int = 0,
                       max_steps_per_epoch: int = 0, mixed_precision: bool = False,
                       jit_compile: bool = False, strategy=None) -> Retraining:
  """DARTS's evaluation recipe for `genotype` on `source` (data.Source), shared by
  rc-darts-train and api.train: the network at `init_channels` C / `layers` cells / `stem`
  seeded with `seed`, the retraining split (batch `batch_size`, Cutout `cutout_length`, 0 off),
  SGD with momentum on the `lr_schedule` schedule over `epochs` x steps per epoch (capped at
  `max_steps_per_epoch` when > 0), and the Trainer (weight decay, label smoothing, gradient
  clipping, auxiliary head) compiled (XLA with `jit_compile`); under `strategy`'s scope when
  given and, with `mixed_precision`, the mixed_float16 policy with dynamic loss scaling
  (precision.py). ValueError when the geometry cannot hold the genotype (network.build_network);
  the caller has checked the genotype."""
  from rc_darts_tf import costs, data
  plan = network_lib.plan_for(genotype, init_channels, layers, stem, source.image_size,
                              source.num_classes)
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
  with scope, precision.policy(mixed_precision):
    network = network_lib.build_network(genotype, init_channels, layers, stem, source.image_size,
                                        source.num_classes, auxiliary, seed=seed)
    split = data.retrain_split(source, batch_size, seed, cutout_length)
    steps = split.steps_per_epoch
    if max_steps_per_epoch:
      steps = min(steps, max_steps_per_epoch)
    schedule = learning_rate_schedule(lr_schedule, learning_rate, steps, epochs,
                                      learning_rate_min, lr_decay_rate)
    optimizer = precision.loss_scaling(keras.optimizers.SGD(schedule, momentum=momentum),
                                       mixed_precision)
    trainer = Trainer(network, source.num_classes, auxiliary_weight, weight_decay,
                      label_smoothing, grad_clip)
    trainer.compile(optimizer=optimizer, jit_compile=jit_compile, auto_scale_loss=False)
    optimizer.build(network.trainable_variables)
  return Retraining(network, trainer, optimizer, split, steps, plan, exact)


class DropPathSchedule(keras.callbacks.Callback):
  """DARTS: drop_prob = drop_path_prob * epoch / epochs at the start of each epoch."""

  def __init__(self, network: keras.Model, drop_path_prob: float, epochs: int):
    super().__init__()
    self.network, self.drop_path_prob, self.epochs = network, drop_path_prob, epochs

  def on_epoch_begin(self, epoch, logs=None):
    """Set every cell's drop-path probability to drop_path_prob · epoch / epochs (epoch
    0-based; network.set_drop_path, ValueError outside [0, 1))."""
    network_lib.set_drop_path(self.network, self.drop_path_prob * epoch / self.epochs)


class TrainCheckpoint:
  """tf.train.CheckpointManager over the network, optimizer, epoch and best accuracy."""

  def __init__(self, directory: str, network: keras.Model, optimizer, max_to_keep: int = 2):
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    self.best = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_accuracy")
    self.checkpoint = tf.train.Checkpoint(network=network, optimizer=optimizer, epoch=self.epoch,
                                          best=self.best)
    self.directory = directory
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep)

  @property
  def latest(self) -> Optional[str]:
    """Path prefix of the newest checkpoint, or None."""
    return self.manager.latest_checkpoint

  def restore(self) -> int:
    """Restore the latest checkpoint (assert_existing_objects_matched: every object of this
    checkpoint's structure must match a saved value); returns its epoch, 0 when there is none."""
    path = self.manager.latest_checkpoint
    if path is None:
      return 0
    self.checkpoint.restore(path).assert_existing_objects_matched()
    return int(self.epoch.numpy())

  def save(self, epoch: int, best: float) -> str:
    """Save with `epoch` epochs done and the best test accuracy `best` (a fraction, -1 before
    any evaluation); numbered by epoch; returns the checkpoint's path prefix."""
    self.epoch.assign(epoch)
    self.best.assign(best)
    return self.manager.save(checkpoint_number=epoch)


class EpochEnd(keras.callbacks.Callback):
  """At each epoch end: evaluate on the test split (every `eval_every` epochs and at the end),
  save best.keras when the accuracy improves, write the checkpoint and history.json, print one
  line a stranger can read."""

  def __init__(self, output_dir: str, network: keras.Model, checkpoint: TrainCheckpoint,
               test_data, epochs: int, eval_every: int = 1, best: float = -1.0,
               history: Optional[list] = None, writer=None):
    super().__init__()
    self.output_dir = output_dir
    self.network = network
    self.checkpoint = checkpoint
    self.test_data = test_data
    self.epochs = epochs
    self.eval_every = eval_every
    self.best = best
    self.history = history if history is not None else []
    self.writer = writer
    self.epoch_started = None

  def on_epoch_begin(self, epoch, logs=None):
    """Start the epoch's timer."""
    self.epoch_started = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    """Record the epoch (train loss/accuracy, learning rate, seconds; test loss/accuracy when
    evaluated), save best.keras on a new best, write history.json then the checkpoint, log the
    floats to TensorBoard and print one line. FloatingPointError (training stopped, nothing
    written) when a recorded float is not finite."""
    logs = dict(logs or {})
    done = epoch + 1
    record = {"epoch": done, "train_loss": float(logs.get("loss", math.nan)),
              "train_accuracy": float(logs.get("accuracy", math.nan)),
              "learning_rate": float(_current_lr(self.model.optimizer)),
              "seconds": round(time.perf_counter() - self.epoch_started, 1)}
    if self.test_data is not None and (done % self.eval_every == 0 or done == self.epochs):
      result = self.model.evaluate(self.test_data, verbose=0, return_dict=True)
      record["test_loss"] = float(result["loss"])
      record["test_accuracy"] = float(result["accuracy"])
      if record["test_accuracy"] > self.best:
        self.best = record["test_accuracy"]
        save_network(self.network, os.path.join(self.output_dir, "best.keras"))
        record["best"] = True
    if not all(math.isfinite(v) for k, v in record.items() if isinstance(v, float)):
      self.model.stop_training = True
      raise FloatingPointError(
          f"non-finite training loss or accuracy at epoch {done} ({record}); the last good "
          f"checkpoint (epoch {int(self.checkpoint.epoch.numpy())}) is kept in "
          f"{self.checkpoint.directory}")
    self.history.append(record)
    # history.json first: a run killed between the two writes resumes from the older checkpoint
    # and drops the history records past it.
    io_utils.atomic_write_text(os.path.join(self.output_dir, "history.json"),
                               json.dumps(self.history, indent=1))
    self.checkpoint.save(done, self.best)
    if self.writer is not None:
      with self.writer.as_default(step=done):
        for key, value in record.items():
          if isinstance(value, float):
            tf.summary.scalar(key, value)
      self.writer.flush()
    test = (f", test loss {record['test_loss']:.4f} acc {100 * record['test_accuracy']:.2f}%"
            f"{' (best)' if record.get('best') else ''}" if "test_accuracy" in record else "")
    print(f"epoch {done}/{self.epochs}: train loss {record['train_loss']:.4f} acc "
          f"{100 * record['train_accuracy']:.2f}%{test}, lr {record['learning_rate']:.3g}, "
          f"{record['seconds']:.0f} s", flush=True)


def _current_lr(optimizer) -> float:
  lr = optimizer.learning_rate
  return float(lr.numpy() if hasattr(lr, "numpy") else lr)


def float32_network(network: keras.Model) -> keras.Model:
  """`network` itself, or, when it computes in float16 (--mixed_precision), a float32 copy with
  the same weights: saved and exported networks compute in float32 whatever the training did."""
  if network.dtype_policy.name != precision.MIXED:
    return network

  def clone(layer):
    config = dict(layer.get_config(), dtype="float32")
    return layer.__class__.from_config(config)

  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy("float32")   # sublayers a layer builds itself follow the global
  try:
    copy = keras.models.clone_model(network, clone_function=clone)
  finally:
    keras.config.set_dtype_policy(previous)
  copy.set_weights(network.get_weights())
  return copy


def save_network(network: keras.Model, path: str) -> None:
  """Save the inference network (logits only, float32) as .keras, atomically."""
  infer = network_lib.inference_model(float32_network(network))
  with io_utils.atomic_path(path, ".keras") as tmp:
    infer.save(tmp)


def export_saved_model(network: keras.Model, path: str) -> None:
  """Write a SavedModel (serving signature: images -> logits, float32) via Keras's export,
  atomically."""
  infer = network_lib.inference_model(float32_network(network))
  with io_utils.atomic_path(path) as tmp:
    infer.export(tmp, format="tf_saved_model", verbose=False)


def evaluate_network(network: keras.Model, dataset) -> Dict[str, float]:
  """Top-1 accuracy and mean loss of the inference network on a batched (images, labels) set."""
  infer = network_lib.inference_model(network)
  correct = total = 0
  loss_sum = 0.0
  predict = tf.function(lambda x: infer(x, training=False))
  for images, labels in dataset:
    logits = predict(images)
    labels = tf.cast(labels, tf.int64)
    correct += int(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), labels), tf.int32)))
    loss_sum += float(tf.reduce_sum(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)))
    total += int(labels.shape[0])
  return {"accuracy": correct / max(total, 1), "loss": loss_sum / max(total, 1),
          "images": total}


def param_count(model: keras.Model) -> int:
  """Trainable weights of `model` as it is (an auxiliary head included; network.count_params
  counts the inference network)."""
  from rc_darts_tf import costs
  return costs.count_weights(model.trainable_weights)


def save_trained(out: str, network: keras.Model, genotype, geometry: Dict[str, object], source,
                 final: Dict[str, float], exact_cost, extra: Optional[Dict[str, object]] = None,
                 saved_model: bool = True) -> Dict[str, object]:
  """Write a trained-model directory (what rc-darts-train writes and `model_dir.read` reads):
  model.keras (logits only, float32), saved_model/ (unless `saved_model` is False) and
  model_info.json (genotype; `geometry`: init_channels, layers, stem; the image size, classes,
  class names and the training set's per-channel mean/std of `source` (data.Source); the exact
  params/MACs `exact_cost` (costs.Cost); the final test figures `final` from evaluate_network;
  and `extra` entries). Every file is written atomically; returns model_info.json's dict."""
  from rc_darts_tf import model_dir, preprocessing
  save_network(network, os.path.join(out, model_dir.MODEL_FILE))
  if saved_model:
    export_saved_model(network, os.path.join(out, "saved_model"))
  info = {
      "genotype": genotype.to_json_dict(), "init_channels": geometry["init_channels"],
      "layers": geometry["layers"], "stem": geometry["stem"], "image_size": source.image_size,
      "num_classes": source.num_classes, "class_names": list(source.class_names),
      "dataset": source.name, "mean": list(source.mean), "std": list(source.std),
      "preprocessing": preprocessing.Preprocessing.from_source(source).to_json_dict(),
  }
  info.update(extra or {})
  info.update({"exact_cost": exact_cost.as_dict(), "params_counted": network_lib.count_params(
      network), "test_accuracy": final["accuracy"], "test_loss": final["loss"],
      "test_images": final["images"]})
  io_utils.atomic_write_text(os.path.join(out, model_dir.INFO_FILE), json.dumps(info, indent=1))
  return info
