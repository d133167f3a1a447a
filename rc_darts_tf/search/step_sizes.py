"""Step sizes that make a search of any length move θ as far as the paper's search does.

Adam moves every θ entry by at most about its learning rate per step, so a search of S steps at
the paper's 3e-4 moves θ at most ≈ 3e-4 · S: 5.9 in the paper's CIFAR-10 search (50 epochs ×
391 steps = 19,550 steps), 0.23 in a 780-step CPU search, 0.007 in a 24-step demo — too little
for the argmax (or any projection) to mean anything. The rule scales the paper's rates by
19,550 / S, so that every search has the paper's travel 3e-4 · 19,550 ≈ 5.9 and the paper's
values are unchanged at the paper's length:

    arch_learning_rate = 3e-4 · 19,550 / S        projection_lr = 3e-4 · 19,550 / S

An explicit --arch_learning_rate / --projection_lr wins over the rule.
"""

PAPER_STEPS = 50 * 391          # RC-DARTS / DARTS CIFAR-10 search: 50 epochs of 25,000 / 64
PAPER_ARCH_LR = 3e-4            # Adam on θ
PAPER_PROJECTION_LR = 3e-4      # Adam of the Eq. 8 projection (method "penalty")


def travel(learning_rate: float, total_steps: int) -> float:
  """The largest distance Adam can move one θ entry in `total_steps` steps (≈ lr per step)."""
  return float(learning_rate) * int(total_steps)


def scaled(paper_rate: float, total_steps: int) -> float:
  """paper_rate · PAPER_STEPS / total_steps (total_steps ≥ 1): the rate with the paper's travel."""
  if total_steps < 1:
    raise ValueError(f"a search needs at least one step, got {total_steps}")
  return float(paper_rate) * PAPER_STEPS / int(total_steps)


def resolve(arch_learning_rate, projection_lr, total_steps: int):
  """(arch lr, projection lr) for a search of `total_steps` steps: the given value where one is
  given (not None), else the rule's."""
  arch = scaled(PAPER_ARCH_LR, total_steps) if arch_learning_rate is None else arch_learning_rate
  proj = (scaled(PAPER_PROJECTION_LR, total_steps) if projection_lr is None else projection_lr)
  return float(arch), float(proj)
