"""Pictures of a search: derived cells as graphs, Φ against its bounds, θ-softmax per edge.

matplotlib only (Agg backend; no graphviz), PNG and SVG for every picture (SVG keeps its text as
text, so op names can be searched and copied). Colours follow op families throughout: separable
convs blue, dilated convs vermilion, pooling green, skip grey, 'none' light grey, the connection's
1x1 / group convs purple (Okabe-Ito colours, readable with colour-blindness).

  write_genotype_pictures(genotype, out_dir)   every cell of a genotype (each normal level, the
                                               reduce cell) and its connection op
  plot_search_dir(search_dir)                  everything above plus Φ and θ-softmax pictures of
                                               a search output directory, into search_dir/pictures

Figure builders return a matplotlib Figure (`cell_figure`, `connection_figure`, `phi_figure`,
`theta_figure`, and `study_figure`: accuracy against size of retrained networks per arm, used by
scripts/results_study.py); `save_figure` writes one as PNG + SVG atomically. The library never
reads FLAGS; `rc-darts-plot` (rc_darts_tf/cli/plot.py) is the command-line front end.

Files written (`<name>.png` and `<name>.svg` each):
  cell_normal            the normal cell (one level), or cell_normal_level0, _level1, ...
  cell_reduce            the reduction cell
  connection             the connection op that preprocesses each cell's two inputs
  phi                    Φ per resource over the search steps, budget band, projection events
  theta_normal, theta_reduce   softmax(θ) per edge over epochs (theta_normal_level0, ... per level)

The package's modules, one concern each: style (colours, line styles, saving), cells (cell and
connection graphs), curves (Φ, θ-softmax, study figures), search_dir (reading and drawing a
search output directory). Everything public is importable from `rc_darts_tf.visualize`.
"""

from rc_darts_tf.visualize.style import (  # noqa: F401
    FORMATS, DPI, NUM_NODES, CELL_PRIMITIVES, CONNECTION_PRIMITIVES, FAMILY_COLORS, OP_STYLES,
    NODE_COLORS, CONNECTION_TEXT, op_family, op_color, op_linestyle, save_figure)
from rc_darts_tf.visualize.cells import (  # noqa: F401
    cell_figure, connection_figure, group_name, write_genotype_pictures)
from rc_darts_tf.visualize.curves import (  # noqa: F401
    phi_figure, theta_figure, ARM_STYLE, study_figure)
from rc_darts_tf.visualize.search_dir import (  # noqa: F401
    SearchRecord, read_search_dir, write_search_pictures, plot_search_dir, plot_genotype)
