r"""Continuous Bernoulli decoder (Loaiza-Ganem & Cunningham, NeurIPS 2019).

The Bernoulli formula made a proper density on [0, 1]. With logit :math:`\eta` and
:math:`\lambda = \sigma(\eta)`:

.. math::
   p(x \mid \lambda) = C(\lambda)\, \lambda^x (1-\lambda)^{1-x}, \qquad x \in [0, 1],

   C(\lambda) = \frac{2\,\operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}
              = \frac{\eta}{\tanh(\eta/2)} \quad (C = 2 \text{ at } \lambda = 1/2),

   \log p(x \mid \eta) = x\eta - \operatorname{softplus}(\eta) + \log C(\eta).

It is an exponential family with natural parameter :math:`\eta`, so
:math:`\mu'(\eta) = \operatorname{Var}(\eta)`. In the logit (with :math:`t = \tanh(\eta/2)`):

.. math::
   \mu(\eta) = \tfrac12 + \frac{1}{2t} - \frac1\eta, \qquad
   \operatorname{Var}(\eta) = \frac{1}{\eta^2} - \frac{1}{4\sinh^2(\eta/2)}, \qquad
   F(x) = \frac{e^{\eta x} - 1}{e^{\eta} - 1}, \qquad
   F^{-1}(u) = \frac{\log(1 + u(e^\eta - 1))}{\eta}.

Numerically delicate regions and how they are handled:

* **lambda near 1/2** (:math:`\eta \to 0`): :math:`\log C`, :math:`\mu` and the variance are 0/0
  or cancel catastrophically. Inside the window :math:`|\eta| < 0.1` (lambda in (0.475, 0.525))
  they use their Taylor series in :math:`\eta` (truncation error below 3e-17 there); outside, the
  closed forms. The window is wider than torch/TFP's lambda-window (0.499, 0.501) because the closed
  form's absolute error in float32 grows like eps * |log |eta|| as eta -> 0 while the series is
  exact to float64 precision up to |eta| = 0.1 (measured in ``tests/test_continuous_bernoulli.py``).
  Both branches are evaluated on *safe* inputs (the "double where"), so neither produces NaN values
  or NaN gradients, also at :math:`\eta = 0` exactly.
* **extreme logits** (|eta| up to 1e4 and beyond): everything is written with ``softplus``,
  ``log1p`` and ``expm1`` of :math:`-|\eta|`, so nothing overflows:
  :math:`\log C = \log|\eta| + \log(1 + e^{-|\eta|}) - \log(1 - e^{-|\eta|})`.
* **cdf / inverse cdf** use ``expm1``/``log1p`` and the symmetry
  :math:`X \sim CB(\eta) \iff 1 - X \sim CB(-\eta)`, so only :math:`\eta > 0` is computed directly.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from likelihoods.base import LOG2, Distribution, Likelihood, float_dtype

TAYLOR_WINDOW = 0.1  # |logit| below which the Taylor series replace the closed forms.


def _split(eta):
  """(small, eta safe for the Taylor branch, eta safe for the closed-form branch)."""
  small = jnp.abs(eta) < TAYLOR_WINDOW
  return small, jnp.where(small, eta, 0.0), jnp.where(small, 1.0, eta)


def log_normalizer(eta: jax.Array) -> jax.Array:
  r"""log C(eta) = log(eta / tanh(eta / 2)); even in eta, log 2 at 0, ~log|eta| for large |eta|.

  Taylor: log 2 + eta^2/12 - 7 eta^4/1440 + 31 eta^6/90720 - 127 eta^8/4838400 + O(eta^10).
  """
  small, e_small, e_big = _split(eta)
  e2 = e_small * e_small
  taylor = LOG2 + e2 * (1 / 12 + e2 * (-7 / 1440 + e2 * (31 / 90720 - e2 * 127 / 4838400)))
  a = jnp.abs(e_big)
  closed = jnp.log(a) + jnp.log1p(jnp.exp(-a)) - jnp.log(-jnp.expm1(-a))
  return jnp.where(small, taylor, closed)


def mean_from_logits(eta: jax.Array) -> jax.Array:
  r"""mu(eta) = 1/2 + 1/(2 tanh(eta/2)) - 1/eta; Taylor 1/2 + eta/12 - eta^3/720 + eta^5/30240 - ..."""
  small, e_small, e_big = _split(eta)
  e2 = e_small * e_small
  taylor = 0.5 + e_small * (1 / 12 + e2 * (-1 / 720 + e2 * (1 / 30240 - e2 / 1209600)))
  closed = 0.5 + 0.5 / jnp.tanh(e_big / 2) - 1 / e_big
  return jnp.where(small, taylor, closed)


def variance_from_logits(eta: jax.Array) -> jax.Array:
  r"""Var(eta) = 1/eta^2 - 1/(4 sinh^2(eta/2)) = d mu / d eta; Taylor 1/12 - eta^2/240 + ..."""
  small, e_small, e_big = _split(eta)
  e2 = e_small * e_small
  taylor = 1 / 12 + e2 * (-1 / 240 + e2 * (1 / 6048 - e2 / 172800))
  a = jnp.abs(e_big)
  # 1 / (4 sinh^2(a/2)) = e^{-a} / (1 - e^{-a})^2, free of overflow.
  closed = 1 / (a * a) - jnp.exp(-a) / jnp.square(jnp.expm1(-a))
  return jnp.where(small, taylor, closed)


def logits_from_mean(mean: jax.Array, num_iters: int = 30) -> jax.Array:
  r"""The inverse mean map: the logit whose CB mean is ``mean`` (elementwise, mean in (0, 1)).

  The CB paper applies it post hoc to a Bernoulli VAE's lambda: the CB whose *mean* is lambda.
  Solved by safeguarded Newton in eta (mu is increasing with mu' = Var), started from
  eta_0 = 1/(1 - m) - 1/m, which has the right limits at m -> 0, 1/2, 1. Means are clipped to
  [tiny, 1 - eps] of their dtype; the result is exact to about 1 ulp of the mean.
  """
  m = jnp.asarray(mean, float_dtype(mean))
  finfo = jnp.finfo(m.dtype)
  m = jnp.clip(m, finfo.tiny ** 0.5, 1 - finfo.eps)
  eta0 = 1 / (1 - m) - 1 / m

  def newton(_, eta):
    step = (mean_from_logits(eta) - m) / jnp.maximum(variance_from_logits(eta), finfo.tiny)
    # mu is sigmoid-shaped: bound each step to a factor 2 in |eta| to avoid overshooting.
    step = jnp.clip(step, -1.0 - jnp.abs(eta), 1.0 + jnp.abs(eta))
    return eta - step

  return jax.lax.fori_loop(0, num_iters, newton, eta0)


@flax.struct.dataclass
class ContinuousBernoulli(Distribution):
  """CB(sigmoid(logits)) on [0, 1], elementwise. See the module docstring for the math."""

  logits: jax.Array

  @property
  def probs(self) -> jax.Array:
    """lambda = sigmoid(logits): the shape parameter (not the mean)."""
    return jax.nn.sigmoid(self.logits)

  def log_prob(self, x):
    eta = jnp.asarray(self.logits)
    x = jnp.asarray(x, float_dtype(eta, x))
    return x * eta - jax.nn.softplus(eta) + log_normalizer(eta)

  def mean(self):
    return mean_from_logits(jnp.asarray(self.logits))

  def variance(self):
    return variance_from_logits(jnp.asarray(self.logits))

  def cdf(self, x):
    eta = jnp.asarray(self.logits)
    x = jnp.clip(jnp.asarray(x, float_dtype(eta, x)), 0.0, 1.0)
    a = jnp.abs(eta)
    y = jnp.where(eta >= 0, x, 1 - x)  # evaluate F_{|eta|}, then reflect
    tiny = a < 1e-6
    a_safe = jnp.where(tiny, 1.0, a)
    # F_a(y) = (e^{a y} - 1) / (e^a - 1) = e^{a (y - 1)} (1 - e^{-a y}) / (1 - e^{-a})
    f = jnp.exp(a_safe * (y - 1)) * jnp.expm1(-a_safe * y) / jnp.expm1(-a_safe)
    f = jnp.where(tiny, y + a * y * (y - 1) / 2, f)
    return jnp.where(eta >= 0, f, 1 - f)

  def icdf(self, u):
    """Inverse cdf; exact at u = 0 and 1 for every logit."""
    eta = jnp.asarray(self.logits)
    u = jnp.asarray(u, float_dtype(eta, u))
    a = jnp.abs(eta)
    v = jnp.where(eta >= 0, u, 1 - u)
    tiny = a < 1e-6
    a_safe = jnp.where(tiny, 1.0, a)
    # F_a^{-1}(v) = 1 + log(v + (1 - v) e^{-a}) / a
    y = 1 + jnp.log(v + (1 - v) * jnp.exp(-a_safe)) / a_safe
    y = jnp.where(tiny, v - a * v * (v - 1) / 2, y)
    y = jnp.clip(y, 0.0, 1.0)
    return jnp.where(eta >= 0, y, 1 - y)

  def sample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    u = jax.random.uniform(key, shape, dtype=float_dtype(self.logits))
    return self.icdf(u)


class ContinuousBernoulliLikelihood(Likelihood):
  """``continuous_bernoulli``: one logit per pixel; the display parameter is lambda = sigmoid(logit)."""

  num_outputs = 1
  display_name = "lambda"

  def distribution(self, raw, x=None, *, train=False):
    return ContinuousBernoulli(logits=raw[..., 0])

  def display(self, raw):
    return jax.nn.sigmoid(raw[..., 0])
