"""Sweeps: the study along one axis; on the warping gamma, folk claim F9 judged by named pairs.

    uv run python -m experiments.sweep --config experiments/configs/sweep.py:cpu --workdir runs/sweep_cpu

A sweep config is a study config (``decoders``, ``train``, ``per_decoder``, ``eval``,
``convergence``, ``budgets``, ``comparisons``, ``verdict``: experiments/configs/study.py) plus
``sweep.axis`` ("gamma": ``train.data.gamma`` of the "warped" protocol; "kl_weight":
``train.kl_weight``), ``sweep.axis_values`` and ``trends`` (vae/study/trend.py). Each (budget,
value, decoder) is one training run with every seed vmapped, annealed to its own budget's end, in
WORKDIR/runs/epochs=<T>/<axis>=<value>/<decoder>/ (without ``budgets``:
WORKDIR/runs/<axis>=<value>/<decoder>/). WORKDIR/REPORT.md starts with the verdicts: each
comparison of ``comparisons`` at every value and budget (a paired two-level bootstrap interval,
vae/study/verdicts.py), marked stable or budget-dependent, then each trend of ``trends``, then
each measure against the axis per decoder (vae/study/sweep.py, vae/study/sweep_report.py).

**Folk claim F9** (../shared/docs/folk-claims.md): "MNIST is nearly binary, so a Bernoulli fits
it well; on truly grey data it does not". Fixed here before any run (``F9_OTHERS``: the decoders
the Bernoulli is held against):

* ``comparisons``, at every gamma: the Bernoulli's latent codes classify worse than the other
  decoder's (``knn_accuracy/correct``, 15-NN on the encoder means: A < B) and its
  reconstructions err more (``intensity/mse``, summed squared error per image: A > B). The claim
  expects "holds" on grey data (gamma > 0) and not on binary data (gamma = -0.5).
* ``trends``: BCE's deficit grows as the data move away from binary: d = A - B on 15-NN
  accuracy falls ("less") from gamma = -0.5 (binary) to 0.25 (``f9_trends`` says why 0.25 and
  why not the squared error).

Warped MNIST (the continuous-Bernoulli paper, reference-protocols.md): x = pixel / 255 warped by
f_gamma: gamma = -0.5 thresholds at 0.5 (binary data, where a Bernoulli is the right
likelihood), gamma in (-0.5, 0) stretches and clips to [0, 1], gamma in (0, 0.5] squeezes into
[gamma, 1 - gamma] (0.5: every pixel 0.5). No dequantization: the evaluation's measures of the
un-warped data (``common``, ``discretized``) and Frechet distances (their reference is un-warped
images) are not run here and not reported; the sweep reports the ELBO and IW log-likelihood under
each decoder's own likelihood at the warped test images, 15-NN accuracy, active units, inception
scores and the reconstructions' error, shift toward 0.5 and sharpness.

Variants (``sweep.py:<variant>``):

* ``smoke``: ``uv run python -m experiments.sweep --config experiments/configs/sweep.py:smoke
  --workdir runs/sweep_smoke``; the plumbing: gamma in (-0.5, 0.25), the Bernoulli and the
  shared-sigma Gaussian, budgets of 1 and 2 epochs (cosine decay to 0, no warm-up), the study's
  smoke model and data (a 784-32-4 MLP, 512 training images, 2 seeds), the F9 comparisons and
  trends between those two decoders, 200 bootstrap replicates: 8 runs, a few seconds of
  training, about 1-2 minutes in all on a 2-core CPU (compiling and evaluating). Expected: a
  REPORT.md with a verdict row per comparison and gamma and a row per trend, whose numbers mean
  nothing. Run by the tests.
* ``cpu`` (default): the command above; the F9 sweep of the six decoders of ``CPU_DECODERS``
  (bernoulli, continuous_bernoulli, gaussian_fixed "MSE", gaussian_shared, laplace_fixed "MAE",
  laplace_shared) at gamma in (-0.5, -0.25, 0, 0.25, 0.45), at budgets of 15 and 30 epochs: a
  784-256-20 MLP (dropout 0.1), the first 10,000 training images (5,000 more held out for the
  validation curves: the study's ``cpu`` split), batch 32 (312 steps per epoch: 4,680 and 9,360
  steps), Adam 1e-3 with a 1-epoch warm-up and cosine decay to 0 at each budget's end (the
  study's ``cpu`` schedule), 3 seeds; lambda clipped to [1e-4, 1 - 1e-4] for Bernoulli and
  continuous Bernoulli (the CB paper's code); evaluation on a seeded subset of 1,000 test images
  (the same for every run: paired comparisons), K = 100, 15-NN fit on 5,000 training images, 500
  generated images; the F9 comparisons and trends of the Bernoulli against the continuous
  Bernoulli and the learned-sigma Gaussian, 2,000 bootstrap replicates. 60 runs.
  Why this budget: the larger one is the previous sweep's (30 epochs of batch 32, 9,360 steps:
  what its learned sigma needed at gamma = 0.45), now annealed; the smaller halves it, so a
  verdict that depends on the learned sigma's progress is marked budget-dependent. Measured: 40 minutes of training and 11 of evaluation for the 60 runs
  (1 hour of wall clock on the 2-core CPU). Expected: experiments/results/sweep_cpu/REPORT.md; the
  F9 trend against the CB holds at both budgets (BCE's 15-NN difference falls by -0.097
  [-0.124, -0.071] from gamma -0.5 to 0.25 at 30 epochs).
* ``paper``: ``uv run python -m experiments.sweep --config experiments/configs/sweep.py:paper
  --workdir runs/sweep_paper``; the CB paper's warped-MNIST protocol (its Figs. 4 and 5) with
  the study's ``paper`` settings (784-500-500-20, dropout 0.1, batch 50, gradient clip 1, lambda
  clip 1e-4, Adam 1e-3 at a constant rate as in the paper, 1e-4 for the Gaussian, one budget of
  100 epochs, 10 seeds, K = 100) for its four decoders at gamma = -0.5, -0.4, ..., 0.4, 0.45, and
  the F9 comparisons and trends of the Bernoulli against the continuous Bernoulli and the
  paper's Gaussian, at that one budget. The reference notes give the warp and its range but not
  the paper's grid: this one spans it in steps of 0.1, and 0.45 stands for 0.5 (where every
  image is the constant 0.5). 44 runs of 100 epochs: for a GPU or TPU (not run yet). Expected:
  the orderings of the paper's Figs. 4 and 5.
* ``kl_weight``: ``uv run python -m experiments.sweep --config
  experiments/configs/sweep.py:kl_weight --workdir runs/sweep_kl``; the KL weight (beta-VAE's
  beta) in (0.25, 0.5, 1, 2, 4) on dequantized MNIST with the ``cpu`` model, data, decoders and
  budgets and the study's measures (the common bits/dim and the 8-bit likelihood apply: the data
  are the study's); no comparisons or trends (F9 is about gamma). Superseded by the study's rate
  axis (``study.py:rate``: every decoder at each KL weight, compared at the same rate); kept for
  the measures against beta. About 2 hours on a 2-core CPU (an estimate, not measured:
  dequantization noise, and two more importance-weighted measures). Expected: not run yet. The
  ELBO, the IW log-likelihood and the drift check use the true ELBO (KL weight 1).
"""

from experiments.configs import study
from vae.evaluation import measures
from vae.study import sweep

VARIANTS = ("smoke", "cpu", "paper", "kl_weight")

# The measures that apply to warped data: each measure says (``warped=`` in
# vae/evaluation/measures.py); see the docstring.
WARPED_MEASURES = measures.on_warped(measures.default_names())
CPU_DECODERS = (
  "bernoulli",
  "continuous_bernoulli",
  "gaussian_fixed",
  "gaussian_shared",
  "laplace_fixed",
  "laplace_shared",
)
F9_DECODER = "bernoulli"  # the decoder F9 is about ("BCE")
F9_OTHERS = ("continuous_bernoulli", "gaussian_shared")  # the densities it is held against


def f9_comparisons(others=F9_OTHERS) -> tuple[dict, ...]:
  """F9 at each gamma: the Bernoulli against each of ``others`` on latent quality (15-NN
  accuracy, higher is better) and reconstruction (squared error, lower is better), the claim's
  direction being "BCE is worse" (verdicts.Comparison fields)."""
  out = []
  for other in others:
    out += [
      dict(claim="F9", statement=f"BCE's latent codes classify worse (15-NN) than `{other}`'s",
           measure="knn_accuracy/correct", a=F9_DECODER, b=other, direction="less"),
      dict(claim="F9", statement=f"BCE reconstructs with a larger squared error than `{other}`",
           measure="intensity/mse", a=F9_DECODER, b=other, direction="greater"),
    ]  # fmt: skip
  return tuple(out)


def f9_trends(others=F9_OTHERS, to: float = 0.25) -> tuple[dict, ...]:
  """F9 along gamma: BCE's 15-NN deficit against each of ``others`` grows from binary data
  (gamma = -0.5) to grey data (gamma = ``to``): d = BCE - other falls (vae/study/trend.py).
  Fixed before the run: read to 0.25 (pixels in [0.25, 0.75]), not to 0.45, where the committed
  constant-rate sweep put every decoder's 15-NN accuracy near chance (a floor that hides any
  deficit); and only on the 15-NN accuracy, which is scale-free: a squared error shrinks with
  the warped data's own range, so its change along gamma is no deficit (the per-gamma verdicts
  compare it where the data are the same)."""
  return tuple(
    dict(claim="F9", statement=f"BCE's 15-NN deficit against `{other}` grows from binary to grey "
         "data", measure="knn_accuracy/correct", a=F9_DECODER, b=other, direction="less",
         values=(-0.5, to))
    for other in others
  )  # fmt: skip


def get_config(variant: str = "cpu"):
  variant = variant or "cpu"
  if variant not in VARIANTS:
    raise ValueError(f"sweep config variant {variant!r} is not one of {VARIANTS}")
  c = study.get_config({"smoke": "smoke", "paper": "paper"}.get(variant, "cpu"))
  c.variant = variant
  # The study's budgets, schedule, validation split, test subset and verdict settings carry over;
  # its comparisons (dequantized data, other claims) are replaced by each variant's own.
  c.comparisons = ()
  c.trends = ()  # vae/study/trend.py: Trend fields (a comparison, and optional values)
  c.sweep = sweep.default_config()
  globals()[f"_{variant}"](c)
  return c


def _warped(c, values, others, trend_to=0.25):
  c.sweep.axis, c.sweep.axis_values = "gamma", values
  c.train.data.protocol = "warped"
  c.eval.measures = WARPED_MEASURES
  c.comparisons, c.trends = f9_comparisons(others), f9_trends(others, trend_to)


def _smoke(c):
  c.decoders = (F9_DECODER, "gaussian_shared")
  _warped(c, (-0.5, 0.25), ("gaussian_shared",))
  c.budgets = (1, 2)  # the study's smoke budgets
  c.train.num_epochs = 2
  c.train.optimizer.schedule, c.train.optimizer.warmup_epochs = "warmup_cosine", 0.0
  c.eval.knn_train_size, c.eval.figures = 512, False  # the sweep's own figures are made


def _cpu_budget(c):
  """The cpu model, data and budgets (the study's ``cpu`` schedule and validation split)."""
  c.decoders = CPU_DECODERS
  c.budgets = (15, 30)
  t = c.train
  t.model.hidden = (256,)
  t.data.train_size, t.data.test_size = 10000, 1000
  t.batch_size, t.eval_batch_size, t.num_epochs, t.num_seeds = 32, 500, 30, 3
  t.checkpoint_every_epochs, t.image_every_epochs = 5, 0
  for decoder in ("bernoulli", "continuous_bernoulli"):  # the CB paper's code clips lambda
    c.per_decoder[decoder] = {"likelihood_options": {"lambda_clip": 1e-4}}
  e = c.eval
  e.num_importance_samples, e.chunk, e.test_size = 100, 100, 1000
  e.knn_train_size, e.num_generated = 5000, 500


def _cpu(c):
  _cpu_budget(c)
  _warped(c, (-0.5, -0.25, 0.0, 0.25, 0.45), F9_OTHERS)


def _paper(c):
  _warped(
    c,
    (-0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.45),
    ("continuous_bernoulli", "gaussian_decoder"),
    trend_to=0.3,  # the paper grid's nearest to 0.25
  )
  c.eval.measures = (*WARPED_MEASURES, "reading_elbos")


def _kl_weight(c):
  _cpu_budget(c)
  c.sweep.axis, c.sweep.axis_values = "kl_weight", (0.25, 0.5, 1.0, 2.0, 4.0)
  c.eval.measures = tuple(m for m in c.eval.measures if m not in ("cross_entropy", "readings"))
