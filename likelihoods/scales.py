r"""How a location-scale decoder sets its scale: the modes the Gaussian and the Laplace share.

A Gaussian's sigma and a Laplace's b are each the scale of a density :math:`s^{-1} f((x - \mu)/s)`,
and the same five ways of setting it apply to both (the ``sigma`` option of ``gaussian``, the
``scale`` option of ``laplace``):

* ``fixed``: given, nothing learned ("MSE" for the Gaussian, "MAE" for the Laplace);
* ``shared``: one learned log scale for all pixels (sigma-VAE);
* ``per_pixel``: a learned log scale per pixel, independent of z;
* ``decoder``: the decoder outputs a second channel, the log scale per pixel (depends on z);
* ``optimal``: the maximum-likelihood scale given the means, for the batch, in training: with
  ``p = Distribution.scale_power``, :math:`s^p = \operatorname{mean}|x - \mu|^p` over the batch's
  examples and pixels (the Gaussian, p = 2: sigma^2 = the mean squared error, sigma-VAE's analytic
  solution; the Laplace, p = 1: b = the mean absolute error). Evaluation uses a debiased running
  average of that batch statistic (collection ``likelihood_stats``), so a test image's likelihood
  never depends on the other test images.

**Scale collapse** is the delicate region: every log scale but ``fixed``'s passes through
sigma-VAE's soft lower bound ``floor + softplus(v - floor)`` (``soft_clip_log_scale``), smooth and
with gradients everywhere; for ``optimal`` this puts the scale slightly above the batch optimum.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from likelihoods.base import Likelihood

SCALE_MODES = ("fixed", "shared", "per_pixel", "decoder", "optimal")


def soft_clip_log_scale(v: jax.Array, floor: float) -> jax.Array:
  """sigma-VAE's soft lower bound: floor + softplus(v - floor) > floor, ~v when v >> floor."""
  return floor + jax.nn.softplus(v - floor)


def log_scale(module, mode, loc, raw, x, *, train, fixed, init, floor, momentum, power, names):
  """The log scale of ``module``'s distribution in ``mode`` (one of ``SCALE_MODES``), in the dtype
  of ``loc``, soft-clipped at ``floor`` unless ``fixed``. Called inside ``module``'s compact
  method: ``names`` = (the parameter's name, the running statistic's prefix), e.g. ("log_sigma",
  "mse"): the learned ``log_sigma``, or ``likelihood_stats`` ``mse_ema`` and ``mse_weight``."""
  param, stat = names
  event_shape = loc.shape[loc.ndim - module.event_ndims :]
  if mode == "fixed":
    return jnp.full((), math.log(fixed), loc.dtype)
  if mode == "shared":
    v = module.param(param, jax.nn.initializers.constant(init), ())
  elif mode == "per_pixel":
    v = module.param(param, jax.nn.initializers.constant(init), event_shape)
  elif mode == "decoder":
    v = raw[..., 1]
  else:  # optimal
    v = _optimal_log_scale(module, loc, x, train, momentum, power, stat)
  return jnp.asarray(soft_clip_log_scale(v, floor), loc.dtype)


def _optimal_log_scale(module, loc, x, train, momentum, power, stat):
  # Debiased running average of the batch statistic mean|x - mu|^p: s^p at evaluation = ema / weight.
  ema = module.variable("likelihood_stats", f"{stat}_ema", lambda: jnp.zeros((), jnp.float32))
  weight = module.variable("likelihood_stats", f"{stat}_weight", lambda: jnp.zeros((), jnp.float32))
  if train:
    if x is None:
      raise ValueError(
        f"{module.registry_name}: the 'optimal' scale needs the data x in training (it is the "
        f"batch's maximum-likelihood scale)"
      )
    err = jnp.abs(jnp.asarray(x, loc.dtype) - loc)
    value = jnp.mean(err * err if power == 2 else err**power)
    if not module.is_initializing():
      ema.value = momentum * ema.value + (1 - momentum) * jax.lax.stop_gradient(value).astype(
        jnp.float32
      )
      weight.value = momentum * weight.value + (1 - momentum)
    # max(): a perfect batch (value 0) would give log 0 and a NaN gradient through the clip.
    return jnp.log(jnp.maximum(value, jnp.finfo(loc.dtype).tiny)) / power
  running = jnp.where(weight.value > 0, ema.value / jnp.maximum(weight.value, 1e-12), 1.0)
  return (jnp.log(running) / power).astype(loc.dtype)


MEAN_ACTIVATIONS = ("sigmoid", "identity")


class LocationScaleLikelihood(Likelihood):
  """What a location-scale decoder head shares (the Gaussian's, the Laplace's): the mean, a
  sigmoid of the first output channel (or the channel itself, ``mean='identity'``), and the
  scale set by its mode (``log_scale``). A subclass declares its Flax fields and names them in
  ``scale_fields``: (the mode, the fixed scale, the log-scale floor, the initial log scale), e.g.
  ("sigma", "fixed_sigma", "log_sigma_min", "init_log_sigma"); plus ``scale_names`` (the learned
  parameter's and the running statistic's names, as ``log_scale`` takes them) and
  ``distribution_type`` (built as ``distribution_type(loc, scale, log_scale=...)``)."""

  scale_fields: ClassVar[tuple[str, ...]] = ()
  scale_names: ClassVar[tuple[str, ...]] = ()

  def _scale_option(self, i: int):
    return getattr(self, self.scale_fields[i])

  def outputs_per_pixel(self) -> int:
    return 2 if self._scale_option(0) == "decoder" else 1

  def has_learned_scale(self) -> bool:
    return self._scale_option(0) != "fixed"

  def at_prediction(self, p, scale):
    value = self._scale_option(1) if self._scale_option(0) == "fixed" else scale
    return self.distribution_type(jnp.asarray(p), jnp.full_like(jnp.asarray(p, float), value))

  def _loc(self, raw):
    return jax.nn.sigmoid(raw[..., 0]) if self.mean == "sigmoid" else raw[..., 0]

  @nn.compact
  def distribution(self, raw, x=None, *, train=False):
    mode_field, fixed_field = self.scale_fields[:2]
    mode, fixed = self._scale_option(0), self._scale_option(1)
    if mode not in SCALE_MODES:
      raise ValueError(f"{self.registry_name}: {mode_field}={mode!r} is not one of {SCALE_MODES}")
    if self.mean not in MEAN_ACTIVATIONS:
      raise ValueError(f"{self.registry_name}: mean={self.mean!r} is not one of {MEAN_ACTIVATIONS}")
    if mode == "fixed" and not fixed > 0:
      raise ValueError(f"{self.registry_name}: {fixed_field}={fixed} must be > 0")
    loc = self._loc(raw)
    log_s = log_scale(
      self, mode, loc, raw, x, train=train, fixed=fixed, init=self._scale_option(3),
      floor=self._scale_option(2), momentum=self.stats_momentum,
      power=self.distribution_type.scale_power, names=self.scale_names,
    )  # fmt: skip
    # log_scale: the log-likelihood stays finite where exp(log scale) overflows (an output 1e4).
    return self.distribution_type(loc=loc, scale=jnp.exp(log_s), log_scale=log_s)

  def display(self, raw):
    return self._loc(raw)
