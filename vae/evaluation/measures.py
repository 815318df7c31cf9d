r"""The evaluation's measures: small units with one job each, chosen by name in the eval config.

A measure is ``fn(ctx, key) -> dict``: it reads what it needs from the ``Context`` (one seed of a
run, the test data, cached encodings), draws its randomness from its own ``key`` (derived from its
name, so adding or reordering measures changes no other measure's numbers) and returns a flat
dict whose keys start with its name (``"common/bits_per_dim"``). A measure that does not apply to
the decoder says why under ``"<name>/not_applicable"``. A per-image number is returned as
``stats.PerImage(values)``, one value per test image: eval.json gets its ``{"mean", "stderr", "n"}``
over the test images (``stats.mean_and_stderr``) and the evaluator keeps the values themselves in
per_image.npz (``vae.evaluation.per_image``), for paired comparisons of decoders on the same
images. Nats unless the name says bits/dim, higher is better for log-likelihoods.

=======================  ============================================================================
``elbo``                 ELBO (analytic KL) under the run's own likelihood, its own test inputs,
                         and its KL (the rate)
``iw_log_likelihood``    importance-weighted log p(x), K samples, own likelihood and inputs
``common``               every decoder's density (``Distribution.as_density``) at the same
                         dequantized test set ((pixel + u)/256, one noise seed): nats, bits/dim
``cross_entropy``        a non-density's own "likelihood" at that set (labelled not comparable)
``readings``             the other densities a non-density is read as (``Distribution.readings``)
``reading_elbos``        a non-density's ELBO under its stand-in density and its readings, at its
                         own test inputs (the CB paper's numbers for a Bernoulli VAE)
``discretized``          exact 8-bit likelihood of the integer test images
                         (``Distribution.log_prob_8bit``: a cdf discretized, or a native pmf)
``knn_accuracy``         15-nearest-neighbour accuracy on encoder means (fit on train)
``active_units``         latent units with Cov_x(E_q[z_u]) > 0.01
``intensity``            reconstruction error by intensity, shift toward 0.5, sharpness,
                         calibration toward 0.5 binned by the prediction, error by true stratum
``sample_quality``       inception score and Frechet distance in the MNIST classifier's features
=======================  ============================================================================
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from vae import batching, data, objective
from vae.evaluation import intensity, latents, scores
from vae.evaluation.columns import Column
from vae.evaluation.run import Run
from vae.evaluation.stats import PerImage

NUM_PIXELS = objective.NUM_PIXELS
COMMON_NOISE_SEED = 0  # the dequantization noise of the common measure: the same for all runs


@dataclasses.dataclass(frozen=True)
class Measure:
  """A named measure: ``fn(ctx, key) -> dict`` and the ``columns`` (``Column``) it reports.

  ``warped``: why the measure says nothing about warped data (it is defined on the un-warped
  test images), or None; ``default``: run by the default eval config."""

  name: str
  fn: Callable
  columns: tuple[Column, ...] = ()
  warped: str | None = None
  default: bool = True

  def __call__(self, ctx: "Context", key) -> dict:
    return self.fn(ctx, key)


MEASURES: dict[str, Measure] = {}


def measure(
  name: str, columns: tuple[Column, ...] = (), *, warped: str | None = None, default: bool = True
):
  """Registers ``fn(ctx, key) -> dict`` as the measure ``name`` with the columns it reports."""

  def register(fn):
    MEASURES[name] = Measure(name, fn, tuple(columns), warped, default)
    return fn

  return register


def names() -> tuple[str, ...]:
  return tuple(MEASURES)


def default_names() -> tuple[str, ...]:
  """The measures the default eval config runs, in registration order."""
  return tuple(n for n, m in MEASURES.items() if m.default)


def on_warped(names_: tuple[str, ...]) -> tuple[str, ...]:
  """``names_`` without the measures that say nothing about warped data (``Measure.warped``)."""
  return tuple(n for n in names_ if MEASURES[n].warped is None)


def columns(show: str | None = None) -> dict[str, Column]:
  """Every declared column, key -> Column, in the measures' order; with ``show`` ("study",
  "sweep") only those that report shows."""
  out = {}
  for m in MEASURES.values():
    for c in m.columns:
      if show is None or show in c.show:
        out[c.key] = c
  return out


def key_for(base: jax.Array, name: str) -> jax.Array:
  """The measure ``name``'s own key: ``base`` folded with a stable hash of the name."""
  return jax.random.fold_in(base, zlib.crc32(name.encode()) & 0x7FFFFFFF)


@dataclasses.dataclass
class Context:
  """What the measures of one seed share; derived arrays are computed once, on first use."""

  run: Run
  config: object  # the eval config (``evaluator.default_config()``)
  test_u8: np.ndarray
  test_labels: np.ndarray
  train_u8: np.ndarray
  train_labels: np.ndarray
  classifier: object = None
  real: dict | None = None  # sample-quality statistics of real images (``real_reference``)
  generated: dict | None = None  # images from the prior, set by ``sample_quality``
  label: str = ""  # which seed, for progress bars
  measure: str = ""  # the measure running, for progress bars (set by the evaluator)
  # The whole test split and which of its rows ``test_u8`` holds (sorted): the inputs ``x`` and
  # ``x_tilde`` are made for the whole split, then selected, so an image's input noise does not
  # depend on which other images are evaluated. None: ``test_u8`` is all there is.
  full_test_u8: np.ndarray | None = None
  test_indices: np.ndarray | None = None
  # {flat name: [num_test_images]} of this seed's per-image values, filled by the evaluator
  # (``evaluator.evaluate_seed``) from the measures' ``PerImage`` values.
  per_image: dict = dataclasses.field(default_factory=dict)

  def progress(self, total: int, unit: str = "image"):
    """A progress bar with an ETA for the running measure (silent without ``progress_bar``)."""
    return tqdm.tqdm(
      total=total,
      desc=f"{self.label} {self.measure}".strip(),
      unit=unit,
      leave=False,
      disable=not self.config.get("progress_bar", False),
    )

  @property
  def distribution_type(self):
    return self.run.model.likelihood.distribution_type

  def _selected(self, make):
    """``make(images)`` of the test images: made for the whole split and selected, if a subset."""
    if self.full_test_u8 is None or self.test_indices is None:
      return make(self.test_u8)
    if len(self.test_indices) == len(self.full_test_u8):
      return make(self.full_test_u8)
    return jnp.asarray(make(self.full_test_u8))[jnp.asarray(self.test_indices)]

  @functools.cached_property
  def x(self) -> jax.Array:
    """The run's own test inputs: its protocol applied with the fixed key."""
    return self._selected(lambda images: data.fixed_inputs(self.run.config, images))

  @functools.cached_property
  def x_tilde(self) -> jax.Array:
    """The common dequantized test set, (pixel + u) / 256 with one noise seed for every run."""
    return jnp.asarray(
      self._selected(lambda images: data.dequantized_test_set(images, seed=COMMON_NOISE_SEED))
    )

  def batches(self, fn, x) -> np.ndarray:
    """``fn(batch)`` over ``x`` in the eval config's batches."""
    with self.progress(x.shape[0]) as bar:
      return batching.map_batches(
        lambda i, xb: fn(xb), x, batch_size=self.config.batch_size, progress=bar.update
      )

  @functools.cached_property
  def test_means(self) -> np.ndarray:
    return self.batches(lambda xb: self.run.encode(xb)[0], self.x)

  @functools.cached_property
  def train_means(self) -> np.ndarray:
    train_x = data.fixed_inputs(self.run.config, self.train_u8, static_seed=0)
    return self.batches(lambda xb: self.run.encode(xb)[0], train_x)

  @functools.cached_property
  def recon_mean(self) -> np.ndarray:
    """The decoder mean at the posterior mean, for the test inputs."""
    return self.batches(lambda xb: self.run.decode(self.run.encode(xb)[0]).mean(), self.x)

  @functools.cached_property
  def recon_display(self) -> np.ndarray:
    """The decoder's display parameter (Bernoulli/CB: lambda) at the posterior mean."""
    return self.batches(lambda xb: self.run.display(self.run.encode(xb)[0]), self.x)

  def iw(self, key, x, score, target) -> np.ndarray:
    """Importance-weighted log-likelihoods per image, K = the eval config's samples."""
    c = self.config
    with self.progress(x.shape[0]) as bar:
      return self.run.log_likelihood(
        x, key, c.num_importance_samples, score=score, target=target, chunk=c.chunk,
        batch_size=c.batch_size, progress=bar.update,
      )  # fmt: skip


def _density_stats(name: str, log_likelihood: np.ndarray, note: str) -> dict:
  return {
    f"{name}/log_likelihood": PerImage(log_likelihood),
    f"{name}/bits_per_dim": PerImage(objective.bits_per_dim(log_likelihood)),
    f"{name}/measure": note,
  }


# ------------------------------------------------------------------------------- likelihoods


@measure(
  "elbo",
  (
    Column(
      "elbo", ("elbo", "mean"), "ELBO (own lik.)", "{:.1f}", None,
      "the ELBO (one latent sample, analytic KL) under the decoder's own likelihood at its own "
      "test inputs, nats per image",
    ),
    Column(
      "elbo_kl", ("elbo/kl", "mean"), "KL (rate)", "{:.1f}", None,
      "the analytic KL(q(z | x) || p(z)) at the test inputs, nats per image: the rate (not a "
      "quality: how much of the latent code the decoder uses; a reconstruction measure means "
      "little without it)",
    ),
  ),
)  # fmt: skip
def elbo(ctx: Context, key) -> dict:
  """The ELBO and its KL term (the rate) per image; ``Run.elbo``'s numbers, from one call."""

  def elbo_and_kl(i, xb):
    out = ctx.run.pieces(xb, jax.random.fold_in(key, i))
    return objective.elbo(out), out["kl"]

  values, kl = batching.map_batches(elbo_and_kl, ctx.x, batch_size=ctx.config.batch_size)
  return {"elbo": PerImage(values), "elbo/kl": PerImage(kl)}


@measure(
  "iw_log_likelihood",
  (
    Column(
      "iw_log_likelihood", ("iw_log_likelihood", "mean"), "IW log-lik. (own)", "{:.1f}", None,
      "the importance-weighted log-likelihood (K samples) under the decoder's own likelihood",
    ),
  ),
)  # fmt: skip
def iw_log_likelihood(ctx: Context, key) -> dict:
  return {"iw_log_likelihood": PerImage(ctx.iw(key, ctx.x, scores.own_density, ctx.x))}


@measure(
  "common",
  (
    Column(
      "common_log_likelihood", ("common/log_likelihood", "mean"), "log-lik. (common)",
      "{:.1f}", "max", "the common measure in nats per image", show=(),
      warped="the density at the dequantized un-warped test images",
    ),
    Column(
      "common_bits_per_dim", ("common/bits_per_dim", "mean"), "bits/dim (common)", "{:.3f}",
      "min",
      "every decoder's importance-weighted density at the same dequantized test set ((pixel + "
      "u)/256, one fixed noise seed); a decoder that is no density (the Bernoulli) is read as "
      "the density that stands in for it (its lambda as the mean of a continuous Bernoulli: the "
      "CB paper's inverse-mean map)",
      warped="the density at the dequantized un-warped test images",
    ),
  ),
  warped="the density at the dequantized un-warped test images",
)  # fmt: skip
def common(ctx: Context, key) -> dict:
  ll = ctx.iw(key, ctx.x_tilde, scores.as_density, ctx.x_tilde)
  dist = ctx.distribution_type
  note = (
    "the decoder's own density at the dequantized test set"
    if dist.is_density()
    else f"{dist.__name__} is not a density on [0, 1]; its stand-in: {dist.stand_in}"
  )
  return _density_stats("common", ll, note)


@measure(
  "cross_entropy",
  (
    Column(
      "cross_entropy", ("cross_entropy", "mean"), "own cross-entropy", "{:.1f}", None,
      "a non-density's own 'likelihood' at the common test set", show=(),
      warped="measured at the dequantized un-warped test images",
    ),
  ),
  warped="measured at the dequantized un-warped test images",
)  # fmt: skip
def cross_entropy(ctx: Context, key) -> dict:
  if ctx.distribution_type.is_density():
    return {"cross_entropy/not_applicable": "a density: its own likelihood is the common measure"}
  ce = ctx.iw(key, ctx.x_tilde, scores.own_density, ctx.x_tilde)
  name = ctx.distribution_type.__name__
  return {
    "cross_entropy": PerImage(ce),
    "cross_entropy/measure": f"{name} is not a density on [0, 1]: not comparable across decoders",
  }


@measure(
  "readings",
  (
    Column(
      "cb_lambda_log_likelihood", ("readings/cb_lambda/log_likelihood", "mean"),
      "log-lik., lambda read as CB", "{:.1f}", None,
      "a Bernoulli's lambda read as a continuous Bernoulli's parameter, at the common test set",
      show=(), warped="measured at the dequantized un-warped test images",
    ),
  ),
  warped="measured at the dequantized un-warped test images",
)  # fmt: skip
def readings(ctx: Context, key) -> dict:
  found = ctx.distribution_type.readings
  if not found:
    return {"readings/not_applicable": "a density is read as itself"}
  out = {}
  for name, note in found.items():
    ll = ctx.iw(key_for(key, name), ctx.x_tilde, scores.Reading(name), ctx.x_tilde)
    out.update(_density_stats(f"readings/{name}", ll, note))
  return out


@measure(
  "reading_elbos",
  (
    Column(
      "elbo_cb_lambda", ("reading_elbos/cb_lambda", "mean"), "ELBO, lambda read as CB",
      "{:.1f}", None,
      "a Bernoulli VAE's ELBO with its lambda read as a continuous Bernoulli's parameter",
      show=("sweep",),
    ),
    Column(
      "elbo_as_density", ("reading_elbos/as_density", "mean"), "ELBO under its stand-in",
      "{:.1f}", None, "a non-density's ELBO under the density that stands in for it",
      show=("sweep",),
    ),
  ),
  default=False,
)  # fmt: skip
def reading_elbos(ctx: Context, key) -> dict:
  dist = ctx.distribution_type
  if dist.is_density():
    return {"reading_elbos/not_applicable": "a density: its ELBO is the elbo measure"}
  targets = {"as_density": (scores.as_density, dist.stand_in)}
  targets.update({name: (scores.Reading(name), note) for name, note in dist.readings.items()})
  out = {}
  for name, (score, note) in targets.items():
    k = key_for(key, name)
    values = batching.map_batches(
      lambda i, xb: ctx.run.elbo(xb, jax.random.fold_in(k, i), score=score, target=xb),
      ctx.x,
      batch_size=ctx.config.batch_size,
    )
    out[f"reading_elbos/{name}"] = PerImage(values, extra={"measure": note})
  return out


@measure(
  "discretized",
  (
    Column(
      "discretized_nll", ("discretized/nll", "mean"), "8-bit NLL", "{:.1f}", "min",
      "the exact likelihood of the integer test images under the decoder's 8-bit pmf (a "
      "continuous cdf discretized on the 256 bins, or a native pmf), nats per image",
      warped="the likelihood of the un-warped 8-bit test images",
    ),
    Column(
      "discretized_log_likelihood", ("discretized/log_likelihood", "mean"), "8-bit log-lik.",
      "{:.1f}", "max", "the 8-bit log-likelihood (minus the 8-bit NLL), nats per image", show=(),
      warped="the likelihood of the un-warped 8-bit test images",
    ),
    Column(
      "discretized_bits_per_dim", ("discretized/bits_per_dim", "mean"), "8-bit bits/dim",
      "{:.3f}", "min", "the 8-bit NLL in bits per pixel", show=(),
      warped="the likelihood of the un-warped 8-bit test images",
    ),
  ),
  warped="the likelihood of the un-warped 8-bit test images",
)  # fmt: skip
def discretized(ctx: Context, key) -> dict:
  if not ctx.distribution_type.has_pmf_8bit():
    name = ctx.distribution_type.__name__
    return {
      "discretized/not_applicable": f"{name} has no 8-bit pmf (no continuous cdf to discretize)"
    }
  ll = ctx.iw(key, ctx.x_tilde, scores.discretized, jnp.asarray(ctx.test_u8))
  return {
    "discretized/log_likelihood": PerImage(ll),
    "discretized/nll": PerImage(-ll),
    "discretized/bits_per_dim": PerImage(-ll / (NUM_PIXELS * np.log(2))),
  }


# ----------------------------------------------------------------------------------- latents


@measure(
  "knn_accuracy",
  (
    Column(
      "knn_accuracy", ("knn_accuracy",), "15-NN acc.", "{:.4f}", "max",
      "test accuracy of a k-nearest-neighbour classifier (k = eval.knn_k, 15) on the encoder "
      "means, fit on training images",
    ),
    Column(
      "knn_correct", ("knn_accuracy/correct", "mean"), "15-NN correct", "{:.4f}", "max",
      "the same accuracy as a per-image number (1 if the test image's label is predicted, else "
      "0), kept per image for paired comparisons",
      show=(),
    ),
  ),
)  # fmt: skip
def knn_accuracy(ctx: Context, key) -> dict:
  del key
  train_means = ctx.train_means
  with ctx.progress(len(ctx.test_labels)) as bar:
    predicted = latents.knn_predict(
      train_means, ctx.train_labels, ctx.test_means, ctx.config.knn_k, progress=bar.update
    )
  correct = (np.asarray(predicted) == np.asarray(ctx.test_labels)).astype(np.float64)
  # (a per-image number added without a MEASURES_VERSION bump: the accuracy is unchanged, and an
  # older evaluation simply has no per-image kNN values)
  return {"knn_accuracy": float(correct.mean()), "knn_accuracy/correct": PerImage(correct)}


@measure(
  "active_units",
  (
    Column(
      "active_units", ("active_units",), "active units", "{:.1f}", "max",
      "latent units whose posterior mean varies over the test set: Cov_x(E_q[z_u]) > 0.01",
    ),
  ),
)  # fmt: skip
def active_units(ctx: Context, key) -> dict:
  del key
  return {"active_units": latents.active_units(ctx.test_means)}


# ------------------------------------------------------------------------ intensity and blur

# The per-image values of the reconstruction mean are "intensity/<name>" ("intensity/mse",
# "intensity/calibration_toward_half"), those of the display parameter "intensity/display/<name>":
# the mean's are the ones a comparison of decoders reads.
RECON_VALUES = "intensity/"


def _recon_named(values: dict) -> dict:
  """``values`` with its per-image values named ``RECON_VALUES + key``."""
  return {
    k: dataclasses.replace(v, name=RECON_VALUES + k) if isinstance(v, PerImage) else v
    for k, v in values.items()
  }


def _recon_columns(columns_: tuple[Column, ...]) -> tuple[Column, ...]:
  """``columns_`` with the per-image name of those of the reconstruction mean (``_recon_named``)."""
  return tuple(
    dataclasses.replace(c, per_image=RECON_VALUES + c.path[1])
    if c.path[0] == "intensity/mean"
    else c
    for c in columns_
  )


@measure(
  "intensity",
  _recon_columns((
    Column(
      "recon_mse", ("intensity/mean", "mse", "mean"), "recon. MSE", "{:.2f}", "min",
      "summed squared error of the reconstruction mean (at the posterior mean) per image",
    ),
    Column(
      "shift_toward_half", ("intensity/mean", "shift_toward_half", "mean"), "shift to 0.5",
      "{:.4f}", "zero",
      "mean over pixels of sign(0.5 - x)(recon - x), binned by the TRUE value x: > 0 for any "
      "error at the 91% of pixels near 0 or 1, a calibrated predictor too (regression to the "
      "mean), so it cannot decide whether a decoder pulls toward 0.5; the calibration columns can",
    ),
    Column(
      "sharpness_ratio", ("intensity/mean", "sharpness_ratio", "mean"), "sharpness", "{:.3f}",
      "one", "image-gradient energy of the reconstructions over the data's (1 = as sharp)",
    ),
    Column(
      "shift_toward_half_display", ("intensity/display", "shift_toward_half", "mean"),
      "shift to 0.5 (display)", "{:.4f}", "zero",
      "the shift toward 0.5 of the display parameter (lambda for Bernoulli and CB)", show=(),
    ),
    Column(
      "sharpness_ratio_display", ("intensity/display", "sharpness_ratio", "mean"),
      "sharpness (display)", "{:.3f}", "one",
      "the sharpness of the display parameter (lambda for Bernoulli and CB)", show=(),
    ),
    Column(
      "calibration_toward_half", ("intensity/mean", "calibration_toward_half", "mean"),
      "calib. to 0.5", "{:.4f}", "zero",
      "mean over pixels of sign(r - 0.5)(x - r) for the reconstruction mean r: binned by the "
      "prediction, 0 for a calibrated decoder (E[x | r] = r), > 0 means pulled toward 0.5",
    ),
    Column(
      "calibration_toward_half_grey", ("intensity/mean", "calibration_toward_half_grey", "mean"),
      "calib. to 0.5 (grey r)", "{:.4f}", "zero",
      "the same over the pixels predicted grey (0.1 < r < 0.9), images with none left out",
    ),
    Column(
      "error_extremes_abs", ("intensity/mean", "error_extremes_abs", "mean"), "MAE near-binary",
      "{:.4f}", "min",
      "mean absolute error of the reconstruction mean over the pixels whose true value is "
      "near-binary (x < 0.1 or x > 0.9), per image",
    ),
    Column(
      "error_midtones_abs", ("intensity/mean", "error_midtones_abs", "mean"), "MAE mid-tones",
      "{:.4f}", "min",
      "mean absolute error of the reconstruction mean over the mid-tone pixels (0.1 <= x <= "
      "0.9), per image; images without mid-tones left out",
    ),
    Column(
      "error_extremes_sq", ("intensity/mean", "error_extremes_sq", "mean"), "MSE near-binary",
      "{:.5f}", "min", "mean squared error over the near-binary pixels, per image", show=(),
    ),
    Column(
      "error_midtones_sq", ("intensity/mean", "error_midtones_sq", "mean"), "MSE mid-tones",
      "{:.5f}", "min", "mean squared error over the mid-tone pixels, per image", show=(),
    ),
    Column(
      "calibration_toward_half_display",
      ("intensity/display", "calibration_toward_half", "mean"), "calib. to 0.5 (display)",
      "{:.4f}", "zero",
      "the calibration toward 0.5 of the display parameter (lambda for Bernoulli and CB)",
      show=(),
    ),
    Column(
      "calibration_toward_half_grey_display",
      ("intensity/display", "calibration_toward_half_grey", "mean"),
      "calib. to 0.5 (grey, display)", "{:.4f}", "zero",
      "the calibration toward 0.5 of the display parameter over its grey predictions", show=(),
    ),
  )),
)  # fmt: skip
def intensity_bias(ctx: Context, key) -> dict:
  """``intensity.intensity_report`` of the reconstruction mean (at the posterior mean) against
  the run's own test inputs, under ``intensity/mean``, and of the display parameter (lambda for
  Bernoulli and CB; the mean again otherwise) under ``intensity/display``: per image the summed
  squared error, the shift toward 0.5 binned by the truth, the sharpness ratio, the calibration
  toward 0.5 binned by the prediction (all pixels and grey predictions) and the errors by
  true-intensity stratum; and the tables (error by intensity, histograms, reliability)."""
  del key
  return {
    "intensity/mean": _recon_named(intensity.intensity_values(ctx.x, ctx.recon_mean)),
    "intensity/display": intensity.intensity_values(ctx.x, ctx.recon_display),
    "intensity/display_parameter": ctx.run.model.likelihood.display_name,
  }


# ---------------------------------------------------------------------------- sample quality


def generate(run: Run, key, num: int) -> dict:
  """``num`` images from the prior, clipped to [0, 1]: at each z ~ p(z) the decoder mean, a
  decoder draw and the decoder's display parameter (lambda for Bernoulli and CB: the "decoder
  parameters" the CB paper scores; else the mean). Chunk i uses ``run.sample``'s keys."""
  parts = {"means": [], "draws": [], "parameters": []}
  for i in range(-(-num // 1000)):
    k_z, k_x = jax.random.split(jax.random.fold_in(key, i))
    z = jax.random.normal(k_z, (1000, run.config.model.latent_dim))
    dist = run.decode(z)
    parts["means"].append(np.asarray(dist.mean()))
    parts["draws"].append(np.asarray(dist.sample(k_x)))
    parts["parameters"].append(np.asarray(run.display(z)))
  return {name: np.clip(np.concatenate(p)[:num], 0, 1) for name, p in parts.items()}


def real_reference(classifier, test_u8, train_u8, *, progress_bar: bool = False) -> dict:
  """Sample-quality numbers of real images: training-set feature statistics (the reference of
  every Frechet distance) and the test set's inception score and Frechet distance to it."""
  from vae.evaluation import sample_quality as sq

  test = np.asarray(test_u8, np.float32) / 255
  total = len(train_u8) + len(test_u8)
  with tqdm.tqdm(
    total=total, desc="real images", unit="image", leave=False, disable=not progress_bar
  ) as bar:
    train_feats = classifier.features(np.asarray(train_u8, np.float32) / 255, bar.update)
    test_logits, test_feats = classifier.logits_and_features(test, bar.update)
  train_stats = sq.feature_stats(train_feats)
  return {
    "train_stats": train_stats,
    "test_inception_score": sq.inception_score(test_logits)[0],
    "test_frechet_distance": sq.frechet_from_stats(*sq.feature_stats(test_feats), *train_stats),
  }


@measure(
  "sample_quality",
  (
    Column(
      "inception_score_samples", ("sample_quality/decoder_samples", "inception_score"),
      "IS (samples)", "{:.2f}", "max",
      "inception score, in the features of this project's MNIST classifier, of decoder samples "
      "at z from the prior",
    ),
    Column(
      "frechet_samples", ("sample_quality/decoder_samples", "frechet_distance"), "FD (samples)",
      "{:.2f}", "min", "Frechet distance of those samples to the training images' features",
      warped="the distance to the features of un-warped training images",
    ),
    Column(
      "inception_score_means", ("sample_quality/decoder_means", "inception_score"), "IS (means)",
      "{:.2f}", "max", "inception score of the decoder means at z from the prior",
    ),
    Column(
      "inception_score_parameters", ("sample_quality/decoder_parameters", "inception_score"),
      "IS (params)", "{:.2f}", "max",
      "inception score of the decoder's display parameters at z from the prior (lambda for "
      "Bernoulli and CB, the CB paper's choice; the mean otherwise)",
    ),
    Column(
      "frechet_means", ("sample_quality/decoder_means", "frechet_distance"), "FD (means)",
      "{:.2f}", "min", "Frechet distance of the decoder means to the training images' features",
      warped="the distance to the features of un-warped training images",
    ),
  ),
)  # fmt: skip
def sample_quality(ctx: Context, key) -> dict:
  from vae.evaluation import sample_quality as sq

  if ctx.classifier is None:
    return {"sample_quality/not_applicable": "no classifier (eval config sample_quality=False)"}
  gen = generate(ctx.run, key, ctx.config.num_generated)
  ctx.generated = gen  # the figures show the first of them
  out = {}
  sets = (
    ("decoder_means", gen["means"]),
    ("decoder_samples", gen["draws"]),
    ("decoder_parameters", gen["parameters"]),
    ("reconstruction_means", ctx.recon_mean),
  )
  bar = ctx.progress(sum(len(images) for _, images in sets))
  for name, images in sets:
    logits, feats = ctx.classifier.logits_and_features(images, bar.update)
    is_mean, is_std = sq.inception_score(logits)
    out[f"sample_quality/{name}"] = {
      "inception_score": is_mean,
      "inception_score_std": is_std,
      "frechet_distance": sq.frechet_from_stats(*sq.feature_stats(feats), *ctx.real["train_stats"]),
    }
  out["sample_quality/real_test_images"] = {
    "inception_score": ctx.real["test_inception_score"],
    "frechet_distance": ctx.real["test_frechet_distance"],
  }
  bar.close()
  out["sample_quality/classifier"] = {
    "test_accuracy": ctx.classifier.accuracy,
    "params_sha256": ctx.classifier.info.params_sha256,
  }
  return out
