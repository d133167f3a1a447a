"""rc-darts-plot: pictures of a search (PNG + SVG), matplotlib only.

  rc-darts-plot --search_dir=runs/search                 # -> runs/search/pictures/
  rc-darts-plot --genotype=DARTS_V2 --output_dir=pics    # the cells of any genotype

With --search_dir it reads genotype.json, search_history.npz and projections.json of a finished
rc-darts-search run and draws every derived cell (each normal level, the reduce cell), the
connection op, Φ per resource against the budget with the projections marked, and softmax(θ) per
edge over the epochs (one figure per θ group), into --output_dir (default SEARCH_DIR/pictures).
With --genotype (a registered name such as DARTS_V2, a DARTS-style 'Genotype(...)' string or a
genotype JSON file) it draws the cells and the connection op only.

Everything is read and checked before anything is written: a missing directory or file, or a
corrupt one, is one line on stderr and exit code 2. Each picture appears complete or not at all.
"""

from rc_darts_tf import cli  # first: quiets TensorFlow before it is imported

import os  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

absl_flags.DEFINE_string("search_dir", None, "Output directory of an rc-darts-search run to "
                         "draw (genotype.json, search_history.npz, projections.json).")
absl_flags.DEFINE_string("genotype", None, "Draw only the cells of this genotype: a registered "
                         "name (DARTS_V2, DARTS_V1, PDARTS), a 'Genotype(...)' string or a "
                         "genotype JSON file. Needs --output_dir.")
absl_flags.DEFINE_string("output_dir", None, "Where the pictures go (default with --search_dir: "
                         "SEARCH_DIR/pictures).")
FLAGS = absl_flags.FLAGS
PROG = "rc-darts-plot"


def main(argv):
  """absl main of rc-darts-plot: flags already parsed, `argv` the leftover arguments (refused);
  returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail(PROG, f"unexpected arguments {' '.join(argv[1:])!r}: all options are flags")
  if bool(FLAGS.search_dir) == bool(FLAGS.genotype):
    cli.fail(PROG, "give exactly one of --search_dir=DIR (a search run) or --genotype=SPEC "
             "(cells of one genotype, with --output_dir=DIR)")
  if FLAGS.genotype and not FLAGS.output_dir:
    cli.fail(PROG, "--genotype needs --output_dir=DIR (where the pictures go)")
  if FLAGS.output_dir and os.path.exists(FLAGS.output_dir) and not os.path.isdir(
      FLAGS.output_dir):
    cli.fail(PROG, f"--output_dir={FLAGS.output_dir} exists and is not a directory")

  from rc_darts_tf import visualize
  try:
    if FLAGS.search_dir:
      paths = visualize.plot_search_dir(FLAGS.search_dir, FLAGS.output_dir)
    else:
      from rc_darts_tf.genotype import resolve
      paths = visualize.plot_genotype(resolve(FLAGS.genotype), FLAGS.output_dir)
  except OSError as error:            # e.g. the output folder is not writable
    where = error.filename or FLAGS.output_dir or FLAGS.search_dir
    cli.fail(PROG, f"cannot write the pictures ({where}: {error.strerror or error})")
  folder = os.path.dirname(paths[0]) if paths else FLAGS.output_dir
  names = sorted({os.path.splitext(os.path.basename(p))[0] for p in paths})
  print(f"wrote {len(paths)} files (PNG + SVG) to {folder}: {', '.join(names)}")
  return 0


def run():
  """The `rc-darts-plot` console script (cli.run: bad input is one line on stderr and exit 2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
