"""absl flag definitions shared by the entry points, one module per concern.

Each module exposes `define_*_flags(flag_values=FLAGS, **defaults)` functions. An entry point calls
the ones it needs at import time, overriding defaults where its recipe differs (the search runs with
batch 64, retraining with batch 96, ...). Calling a define function twice is harmless. Every flag is
validated by absl validators at parse time, so a bad value stops the program before any work with
one line that names the flag, the value and what is allowed (see `rc_darts_tf.cli`).

Names follow DARTS's `train_search.py` / `train.py` wherever DARTS has the flag.

  flags.data          --dataset, --data_dir, --manual_dir, --download, --image_size,
                      --train_portion, --cutout, --cutout_length
  flags.train         --batch_size, --seed, --learning_rate, --learning_rate_min, --momentum,
                      --weight_decay, --epochs, --init_channels, --layers, --drop_path_prob,
                      --auxiliary, --auxiliary_weight, --grad_clip, --report_freq
  flags.search        --arch_learning_rate, --arch_weight_decay, --levels, --learn_connection,
                      --projection_interval, --projection_iters, --projection_lr, --warmup_steps
  flags.budget        --budget_params, --budget_macs, --constraints, --budget_layers,
                      --budget_channels, --budget_stem
  flags.export        --formats, --opset, --threads, --parity_images, --latency_runs, --warmup_runs
  flags.distribution  --strategy, --tpu
  flags.output        --output_dir, --overwrite
"""
