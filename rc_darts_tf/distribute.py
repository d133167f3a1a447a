"""tf.distribute plumbing shared by the search and training entry points.

  make_strategy(name, tpu)     --strategy=default | mirrored | multi_worker | tpu -> a strategy;
                               one-line RcDartsError when it cannot be built (no TPU, bad TF_CONFIG)
  check_global_batch(...)      the global batch must split evenly over the replicas
  distribute_dataset(...)      a dataset of GLOBAL batches -> per-replica batches
  first_replica(...)           a value every replica holds identically (all-reduced) -> one tensor
  is_chief(strategy)           whether this worker writes the run's files
  worker_index(strategy)       this worker's index (0 without a cluster)

Batch sizes are global: a dataset yields batches of --batch_size examples and the strategy
splits each one over the replicas (each of N replicas sees batch_size / N examples). Gradients
are averaged over replicas before they are applied, so N replicas take the same step one device
takes on the same global batch.

`make_strategy("multi_worker")` must run before TensorFlow creates its devices (before any op,
model or dataset): MultiWorkerMirroredStrategy configures the runtime's collective ops.
"""

import json
import os
from typing import Optional

from rc_darts_tf.errors import RcDartsError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def _tf():
  import tensorflow as tf
  return tf


def parse_tf_config(environ=None) -> Optional[dict]:
  """TF_CONFIG as a dict (None when unset); a one-line RcDartsError when it is malformed."""
  environ = os.environ if environ is None else environ
  raw = environ.get("TF_CONFIG")
  if not raw:
    return None
  try:
    config = json.loads(raw)
  except ValueError as error:
    raise RcDartsError(f"TF_CONFIG={raw!r} is not valid JSON ({error})") from None
  cluster = config.get("cluster") if isinstance(config, dict) else None
  task = config.get("task") if isinstance(config, dict) else None
  if not isinstance(cluster, dict) or not isinstance(task, dict):
    raise RcDartsError(f"TF_CONFIG={raw!r} needs a 'cluster' {{job: [host:port, ...]}} and a "
                       "'task' {'type': ..., 'index': ...}")
  kind, index = task.get("type"), task.get("index")
  hosts = cluster.get(kind)
  if not isinstance(hosts, list) or not isinstance(index, int) or not 0 <= index < len(hosts):
    raise RcDartsError(f"TF_CONFIG={raw!r}: task {kind}:{index} is not in the cluster "
                       f"{ {k: len(v) if isinstance(v, list) else v for k, v in cluster.items()} }")
  return config


def check_strategy(name: str, tpu: Optional[str] = None) -> None:
  """The checks of make_strategy that need no TensorFlow (run before importing it): a one-line
  RcDartsError for an unknown name, multi_worker without (or with a malformed) TF_CONFIG, tpu on
  a machine without a TPU and no --tpu."""
  if name not in STRATEGIES:
    raise RcDartsError(f"--strategy={name}: unknown; allowed: {', '.join(STRATEGIES)}")
  if name == "multi_worker" and parse_tf_config() is None:
    raise RcDartsError("--strategy=multi_worker needs TF_CONFIG (JSON: {\"cluster\": "
                       "{\"worker\": [\"host:port\", ...]}, \"task\": {\"type\": \"worker\", "
                       "\"index\": i}}) in the environment of every worker")
  if name == "tpu" and not tpu and not _local_tpu_hint():
    raise RcDartsError("--strategy=tpu: no TPU found on this machine (no /dev/accel*, TPU_NAME "
                       "unset): pass --tpu=NAME_OR_GRPC_ADDRESS or choose another --strategy")


def make_strategy(name: str = "default", tpu: Optional[str] = None, devices=None):
  """The tf.distribute strategy for --strategy=`name`.

  default       tf.distribute.get_strategy() (one device, no replicas);
  mirrored      MirroredStrategy over all local GPUs (over the local CPUs' logical devices when
                there is no GPU and several logical CPUs exist; `devices` overrides);
  multi_worker  MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG (required);
  tpu           TPUStrategy on the TPU named by `tpu` (or the local / environment's TPU).
  """
  check_strategy(name, tpu)
  tf = _tf()
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if devices is None:
      gpus = tf.config.list_logical_devices("GPU")
      cpus = tf.config.list_logical_devices("CPU")
      devices = [d.name for d in gpus] if gpus else [d.name for d in cpus]
    try:
      return tf.distribute.MirroredStrategy(devices=list(devices))
    except (ValueError, RuntimeError) as error:
      raise RcDartsError(f"--strategy=mirrored: cannot use devices {devices}: "
                         f"{str(error).splitlines()[0]}") from None
  if name == "multi_worker":
    try:
      return tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, RuntimeError) as error:
      raise RcDartsError(f"--strategy=multi_worker: {str(error).splitlines()[0]}") from None
  # tpu
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  except Exception as error:  # noqa: BLE001 - every failure means "no usable TPU"
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise RcDartsError(f"--strategy=tpu{'' if tpu is None else ' --tpu=' + tpu}: no TPU "
                       f"available ({message})") from None


def config_is_chief(config: Optional[dict]) -> bool:
  """Whether TF_CONFIG (parsed) names the writing worker: the 'chief' task, or worker 0 when the
  cluster has no chief; True without a TF_CONFIG."""
  if not config:
    return True
  kind, index = config["task"].get("type"), config["task"].get("index", 0)
  return kind == "chief" or ("chief" not in config["cluster"] and kind == "worker" and index == 0)


def _local_tpu_hint() -> bool:
  """Whether this machine looks like a TPU host (so TPUClusterResolver may find one quickly)."""
  import glob
  return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*") or
              os.environ.get("TPU_NAME") or os.environ.get("KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS") or
              os.environ.get("TPU_ACCELERATOR_TYPE"))


def check_global_batch(batch_size: int, strategy, flag: str = "batch_size") -> int:
  """The per-replica batch; refuses a global batch that does not split evenly."""
  n = strategy.num_replicas_in_sync
  if batch_size % n:
    raise RcDartsError(f"--{flag}={batch_size} is global and must be a multiple of the "
                       f"{n} replicas of this strategy")
  return batch_size // n


def distribute_dataset(strategy, dataset):
  """Per-replica batches from a dataset of global batches. Under multi_worker every worker runs
  the same (seeded, deterministic) pipeline and keeps its own share of each global batch, so no
  file-based sharding is needed."""
  tf = _tf()
  if strategy.num_replicas_in_sync == 1 and not _is_multi_worker(strategy):
    return dataset
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return strategy.experimental_distribute_dataset(dataset.with_options(options))


def first_replica(strategy, value):
  """One tensor from a value all replicas hold identically (e.g. an all-reduced mean)."""
  return strategy.experimental_local_results(value)[0]


def _is_multi_worker(strategy) -> bool:
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None:
    return False
  try:
    spec = resolver.cluster_spec().as_dict()
  except Exception:  # noqa: BLE001
    return False
  return sum(len(v) if isinstance(v, list) else len(dict(v)) for v in spec.values()) > 1


def worker_index(strategy) -> int:
  """This worker's task id in a multi-worker cluster (cluster_resolver.task_id); 0 without a
  cluster of more than one task."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not _is_multi_worker(strategy):
    return 0
  return int(resolver.task_id or 0)


def is_chief(strategy) -> bool:
  """True for the worker that writes checkpoints and results: the 'chief' task if the cluster
  has one, else worker 0; always True without a cluster."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not _is_multi_worker(strategy):
    return True
  kind, index = resolver.task_type, resolver.task_id
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return kind == "chief" or (not has_chief and kind == "worker" and (index or 0) == 0)
