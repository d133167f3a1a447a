"""The search's hyper-parameter defaults, in one place and without TensorFlow: `rc-darts-search`'s
flags (flags/search.py), `SearchNetwork` and `Projection` all take theirs from here, so a search
driven from Python has the command line's defaults.

The RC-DARTS paper's CIFAR-10 search settings (../shared/DESIGN.md) where the paper gives one;
the learning rates of θ and of the Eq. 8 projection are the paper's at the paper's length and
scaled to the search's length otherwise (search/step_sizes.py). Where the paper is silent or
this project departs from it, the reason is given beside the value.
"""

from rc_darts_tf.search import step_sizes

ARCH_LEARNING_RATE = step_sizes.PAPER_ARCH_LR  # Adam on θ at the paper's 19,550 steps
ARCH_BETAS = (0.5, 0.999)                      # DARTS's and the paper's Adam betas for θ
ARCH_WEIGHT_DECAY = 1e-3
LEVELS = 3                        # depth groups of normal cells with their own θ (the paper: k)
LEARN_CONNECTION = True           # the paper's learned connection cell
PROJECTION_INTERVAL = 150         # e_u: phase-I steps between projections
PROJECTION_ITERS = 500            # e_p: iterations of one projection at most
PROJECTION_LR = step_sizes.PAPER_PROJECTION_LR  # Adam of the Eq. 8 projection
PROJECTION_BETAS = (0.5, 0.999)   # the paper's, as θ's
# Eq. 7 by sequential linearisation ends feasible in a few iterations; the paper's Eq. 8 penalty
# descent ("penalty") hit e_p infeasible in every projection of the CPU study (docs/RESULTS.md)
PROJECTION_METHOD = "newton"
# λ of Eq. 8 (the paper gives no value): 10 weighs a scaled violation of 0.1 (10 % over a bound)
# like a θ move of ‖Δθ‖ ≈ 1.4 in ½‖θ − θ_p‖²; decayed by 0.97 per projection, ≈ 0.02 of it after
# the paper's 130 projections (19,550 steps / e_u)
LAMBDA_INIT = 10.0
LAMBDA_DECAY = 0.97
WARMUP_STEPS = 0                  # length of the first phase I (warm start); 0 = one epoch
# softmax(θ / τ) annealed from TEMPERATURE_INIT to TEMPERATURE_FINAL over the search, so the mixed
# ops and Φ end on the network Eq. 1 derives; 1 and 1 is the paper's plain softmax
TEMPERATURE_INIT = 1.0
TEMPERATURE_FINAL = 0.03
