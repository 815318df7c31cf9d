"""Published numbers to reproduce, each with the tolerance we accept, fixed before any run.

    uv run python -m experiments.reproduce --config experiments/configs/reproduce.py:cb_paper \
        --workdir runs/reproduce_cb --config.study.train.num_seeds=2 \
        --config.study.decoders='("bernoulli","continuous_bernoulli")'

Writes WORKDIR/REPRODUCTION.md: each published number next to ours (mean ± std over seeds, the
number of seeds and epochs), the difference, the tolerance below and a verdict. Rows whose runs
are not in the study say "needs an accelerator" (the full protocols are GPU/TPU-sized).

Anchors (numbers: ``shared/docs/reference-protocols.md``):

* ``cb_paper`` (Loaiza-Ganem & Cunningham 2019, MNIST, gamma = 0; ``study.py:paper``): the
  test ELBO of the continuous-Bernoulli VAE, 1470 nats; a Bernoulli VAE's ELBO under the
  continuous-Bernoulli likelihood, 1139, and with the inverse-mean map, 1416, against which two
  rows: the exact map (the Bernoulli's stand-in density, ``logits_from_mean``) and the map of the
  paper's code, linear interpolation between 100 knots (the reading ``cb_mean_knots``,
  ``logits_from_mean_knots``: up to 0.006 off in lambda, 0.12 in the mean); and the orderings
  its figures show. Tolerance 30 nats (2%): the paper averages 10 runs and states neither its
  batch size nor the spread; the notebooks' settings are followed otherwise.
  The command above (2 seeds, B and CB, 100 epochs) takes about 45 minutes on a 2-core CPU
  (37 of training, 8 of evaluation; measured 2026-12-02). Expected: CB ELBO 1470.2 ± 1.6
  (reproduced), B under CB 1143.2 ± 0.8 (reproduced), with the exact inverse-mean map 1456.4 ±
  0.9 (not reproduced: +40), with the paper code's 100-knot map 1416.0 ± 0.2 (reproduced: the
  paper's 1416 matches its code's approximate map);
  experiments/results/reproduce_cb_paper/ (REPRODUCTION.md, NOTES.md).
* ``iwae`` (Burda et al. 2016; ``study.py:iwae``): the one-layer VAE trained with k = 1, test NLL
  86.76 nats with K = 5000; tolerance 1 nat (independent reimplementations land within about
  1 nat). Needs an accelerator (3280 epochs).
* sigma-VAE (Rybkin et al. 2021): not an anchor. Its MNIST numbers (reference-protocols.md) come
  from the submission version without a stated architecture, data protocol (dequantized or not),
  training length or estimator (the table gives bounds "-log p <"), so the protocol cannot be
  pinned down.
"""

import ml_collections

from experiments.configs import study

ANCHORS = ("cb_paper", "iwae")


def _row(name, decoder, measure, published, tolerance, source, *, negate=False):
  """A published number: ``measure`` of ``decoder`` (a column key declared by a measure,
  ``vae.evaluation.measures.columns()``, or a flat key of one seed's result whose value has a
  "mean": ``"reading_elbos/cb_mean_knots"``), negated if ``negate`` (an NLL from a
  log-likelihood); ``tolerance``: the largest absolute difference that counts as reproduced, in
  the measure's units."""
  return dict(
    name=name,
    decoder=decoder,
    measure=measure,
    published=published,
    tolerance=tolerance,
    source=source,
    negate=negate,
  )


def _order(name, measure, above, below, source):
  """A published ordering: every decoder of ``above`` has a higher ``measure`` than every one of
  ``below`` (a measure given as {decoder: headline name} where decoders differ in what counts)."""
  return dict(name=name, measure=measure, above=above, below=below, source=source)


def get_config(anchor: str = "cb_paper"):
  anchor = anchor or "cb_paper"
  if anchor not in ANCHORS:
    raise ValueError(f"reproduce config anchor {anchor!r} is not one of {ANCHORS}")
  c = ml_collections.ConfigDict()
  c.anchor = anchor
  if anchor == "cb_paper":
    c.title = "Loaiza-Ganem & Cunningham 2019 (continuous Bernoulli), MNIST, gamma = 0"
    c.study = study.get_config("paper")
    c.published_runs = 10  # each reported value averages 10 runs
    src = "CB paper, MNIST results (reference-protocols.md)"
    c.rows = [
      _row("CB VAE, test ELBO", "continuous_bernoulli", "elbo", 1470.0, 30.0, src),
      _row("B VAE, ELBO under the CB likelihood", "bernoulli", "elbo_cb_lambda", 1139.0, 30.0, src),
      _row(
        "B VAE, ELBO under the CB likelihood, inverse-mean map",
        "bernoulli",
        "elbo_as_density",
        1416.0,
        30.0,
        src,
      ),
      _row(
        "B VAE, ELBO under the CB likelihood, inverse-mean map (the paper code's 100-knot "
        "interpolation)",
        "bernoulli",
        "reading_elbos/cb_mean_knots",
        1416.0,
        30.0,
        src,
      ),
    ]
    c.deviations = [
      "Batch size 50 and the gradient clip come from the authors' notebooks; the paper states "
      "neither.",
      "The Gaussian decoder outputs log sigma through the sigma-VAE soft lower bound at -6 "
      "(likelihoods/gaussian.py); the paper maps the decoder output through softplus to sigma.",
      "Inception scores use this project's CNN classifier (99.3% test accuracy, "
      "vae/evaluation/classifier.py), not the paper's 784-500-500-10 MLP: the numbers are "
      "compared only as orderings.",
      "The ELBO is estimated with one latent sample per test image and the analytic KL; every "
      "measure is on all 10,000 test images (dequantized with one fixed noise seed), after "
      "training on all 60,000 training images (no validation split).",
      "Lambda is clipped in logit space (the same set as the paper's clip of lambda, without "
      "rounding lambda itself).",
    ]
    figs = "CB paper, Fig. 3 and Table 1 orderings (reference-protocols.md)"
    elbo = {
      "continuous_bernoulli": "elbo",
      "bernoulli": "elbo_cb_lambda",
      "beta": "elbo",
      "gaussian_decoder": "elbo",
    }
    c.orderings = [
      _order("CB above B on ELBO", elbo, ["continuous_bernoulli"], ["bernoulli"], figs),
      _order(
        "CB above B on inception score (samples)",
        "inception_score_samples",
        ["continuous_bernoulli"],
        ["bernoulli"],
        figs,
      ),
      _order(
        "CB above B on inception score (decoder parameters: lambda)",
        "inception_score_parameters",
        ["continuous_bernoulli"],
        ["bernoulli"],
        figs,
      ),
      _order(
        "CB above B on 15-NN accuracy",
        "knn_accuracy",
        ["continuous_bernoulli"],
        ["bernoulli"],
        figs,
      ),
      _order(
        "Beta best on ELBO",
        elbo,
        ["beta"],
        ["bernoulli", "continuous_bernoulli", "gaussian_decoder"],
        figs,
      ),
      _order(
        "Gaussian below CB and Beta on ELBO",
        elbo,
        ["continuous_bernoulli", "beta"],
        ["gaussian_decoder"],
        figs,
      ),
    ]
  else:
    c.title = "Burda et al. 2016 (IWAE), one stochastic layer, VAE trained with k = 1"
    c.study = study.get_config("iwae")
    c.published_runs = 1
    src = "IWAE paper, Table 1 (reference-protocols.md)"
    c.rows = [
      _row(
        "VAE (k = 1), test NLL, K = 5000",
        "bernoulli",
        "iw_log_likelihood",
        86.76,
        1.0,
        src,
        negate=True,
      ),
    ]
    c.orderings = []
    c.deviations = [
      "No validation hold-out: training on all 60,000 images (the authors' code holds out 400).",
      "The output bias starts at zero, not at the logit of the training-set mean pixel "
      "(the authors' code).",
      "The schedule is the paper's (3^i epochs at 1e-3 * 10^(-i/7)), not the code's rounded "
      "learning rates.",
    ]
  return c
