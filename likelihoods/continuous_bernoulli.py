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
  or cancel catastrophically: the closed forms of :math:`\mu` and the variance lose
  :math:`\sim\epsilon/|\eta|` and :math:`\sim\epsilon/\eta^2` in absolute terms. Inside the window
  :math:`|\eta| < 1` (``TAYLOR_WINDOW``; lambda in (0.269, 0.731)) they use their Taylor series in
  :math:`\eta` (``TAYLOR_TERMS`` = 16 terms, coefficients exact from the Bernoulli numbers; the
  series converge for :math:`|\eta| < \pi`, truncation error below 1e-18 at :math:`|\eta| = 1`);
  outside, the closed forms. The window is much wider than torch/TFP's lambda-window (0.499, 0.501):
  at the boundary the closed forms then cost ~2e-7 (float32) and ~5e-16 (float64) absolute, against
  5e-5 for the float32 variance with a window of 0.1 (measured in
  ``tests/test_continuous_bernoulli.py``; table by ``tests/measure_cb_window.py``).
  Both branches are evaluated on *safe* inputs (the "double where"), so neither produces NaN values
  or NaN gradients, also at :math:`\eta = 0` exactly.
* **extreme logits** (|eta| up to 1e4 and beyond): everything is written with ``softplus``,
  ``log1p`` and ``expm1`` of :math:`-|\eta|`, so nothing overflows:
  :math:`\log C = \log|\eta| + \log(1 + e^{-|\eta|}) - \log(1 - e^{-|\eta|})`.
* **small means** (:math:`\eta \ll 0`): the mean is computed as
  :math:`\mu(-a) = 1/a - 1/(e^a - 1)` (:math:`a = |\eta|`), accurate relative to the mean itself,
  and :math:`\mu(a) = 1 - \mu(-a)`; so ``logits_from_mean`` round-trips small means to a few ulp.
* **lambda clip** (``lambda_clip`` option, off by default): the CB paper's notebooks clip lambda to
  [c, 1 - c] with c = 1e-4, i.e. the logit to [-L, L] with L = log((1 - c) / c) = 9.21, which caps
  a pixel's log density at about log C(1e-4) = 2.2 nats (their ELBO of 1470 depends on it).
  ``clip_logits`` does it in logit space (a hard clip: zero gradient beyond, as their clamp).
* **cdf / inverse cdf** use ``expm1``/``log1p`` in forms that cannot overflow, with no reflection
  ``1 - F`` (which would cost eps absolute where F is small): relative accuracy where the mass is,
  exact 0 and 1 at the edges.

Two inverse-mean maps: ``logits_from_mean`` is exact; ``lambda_from_mean_knots`` /
``logits_from_mean_knots`` reproduce the CB paper code's approximation (linear interpolation
between 100 knots), which departs from the exact map by up to 0.006 in lambda and 0.12 in the mean.
"""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np

from likelihoods.base import LOG2, Distribution, Likelihood, distribution_dataclass, float_dtype
from likelihoods.discretization import LOG1P_SAFE

TAYLOR_WINDOW = 1.0  # |logit| below which the Taylor series replace the closed forms.
TAYLOR_TERMS = 16  # terms of each series (both read at call/trace time, so tests can vary them).


def _even_bernoulli_numbers(n: int) -> list[Fraction]:
  """B_2, B_4, ..., B_2n as exact fractions (from sum_{k<=m} C(m+1, k) B_k = 0, B_0 = 1)."""
  b = [Fraction(1)]
  for m in range(1, 2 * n + 1):
    b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
  return b[2::2]


_B2N = _even_bernoulli_numbers(24)
# log C = log 2 + sum_n 2 (2^{2n-1} - 1) B_2n eta^2n / (2n (2n)!)   (from (log C)' = 1/eta - 1/sinh eta)
_LOGC_COEFFS = tuple(
  float(2 * (2 ** (2 * n - 1) - 1) * b / (2 * n * math.factorial(2 * n)))
  for n, b in enumerate(_B2N, 1)
)
# mu = 1/2 + sum_n B_2n eta^(2n-1) / (2n)!                           (from (x/2) coth(x/2))
_MEAN_COEFFS = tuple(float(b / math.factorial(2 * n)) for n, b in enumerate(_B2N, 1))
# Var = mu' = sum_n (2n - 1) B_2n eta^(2n-2) / (2n)!
_VAR_COEFFS = tuple(float((2 * n - 1) * b / math.factorial(2 * n)) for n, b in enumerate(_B2N, 1))


def _series(coeffs, e2):
  """sum_{n < TAYLOR_TERMS} coeffs[n] e2^n by Horner."""
  terms = coeffs[:TAYLOR_TERMS]
  acc = jnp.full_like(e2, terms[-1])
  for c in reversed(terms[:-1]):
    acc = c + e2 * acc
  return acc


def _split(eta):
  """(small, eta safe for the Taylor branch, eta safe for the closed-form branch)."""
  small = jnp.abs(eta) < TAYLOR_WINDOW
  return small, jnp.where(small, eta, 0.0), jnp.where(small, 1.0, eta)


def log_normalizer(eta: jax.Array) -> jax.Array:
  r"""log C(eta) = log(eta / tanh(eta / 2)); even in eta, log 2 at 0, ~log|eta| for large |eta|.

  Taylor: log 2 + eta^2/12 - 7 eta^4/1440 + 31 eta^6/90720 - 127 eta^8/4838400 + ...
  """
  small, e_small, e_big = _split(eta)
  e2 = e_small * e_small
  taylor = LOG2 + e2 * _series(_LOGC_COEFFS, e2)
  a = jnp.abs(e_big)
  closed = jnp.log(a) + jnp.log1p(jnp.exp(-a)) - jnp.log(-jnp.expm1(-a))
  return jnp.where(small, taylor, closed)


def mean_from_logits(eta: jax.Array) -> jax.Array:
  r"""mu(eta) = 1/2 + 1/(2 tanh(eta/2)) - 1/eta = 1/(1 - e^-eta) - 1/eta; Taylor 1/2 + eta/12 - ..."""
  small, e_small, e_big = _split(eta)
  e2 = e_small * e_small
  taylor = 0.5 + e_small * _series(_MEAN_COEFFS, e2)
  a = jnp.abs(e_big)
  # mu(-a) = 1/a - 1/(e^a - 1) in (0, 1/2), accurate relative to the (small) mean and free of
  # overflow (also in its gradient); mu(a) = 1 - mu(-a).
  low = 1 / a + jnp.exp(-a) / jnp.expm1(-a)
  closed = jnp.where(e_big < 0, low, 1 - low)
  return jnp.where(small, taylor, closed)


def variance_from_logits(eta: jax.Array) -> jax.Array:
  r"""Var(eta) = 1/eta^2 - 1/(4 sinh^2(eta/2)) = d mu / d eta; Taylor 1/12 - eta^2/240 + ..."""
  small, e_small, e_big = _split(eta)
  e2 = e_small * e_small
  taylor = _series(_VAR_COEFFS, e2)
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
  m = jnp.clip(m, finfo.tiny**0.5, 1 - finfo.eps)
  eta0 = 1 / (1 - m) - 1 / m

  def newton(_, eta):
    step = (mean_from_logits(eta) - m) / jnp.maximum(variance_from_logits(eta), finfo.tiny)
    # mu is sigmoid-shaped: bound each step to a factor 2 in |eta| to avoid overshooting.
    step = jnp.clip(step, -1.0 - jnp.abs(eta), 1.0 + jnp.abs(eta))
    return eta - step

  return jax.lax.fori_loop(0, num_iters, newton, eta0)


# The CB paper code's inverse-mean map (cunningham-lab/cb_and_cc, cb/utils.py: ``mean_from_lam``,
# the knots ``xs``/``ys`` and ``cont_bern_lam``; the same in every version of the file, 2019-2020).
KNOTS_NUM = 100
KNOTS_TOP = 1.0 + 1e-4  # the last lambda knot: linspace(0, 1 + 1e-4, 100)


def _cb_code_knots() -> tuple[np.ndarray, np.ndarray]:
  r"""(lambda knots, mean knots) of the CB paper code, both rounded to float32 as there.

  lambda_i = linspace(0, 1 + 1e-4, 100)[i] in float64; m_i = mu(lambda_i) by the closed form
  lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda)) in float64 for lambda_i in (0, 1) (no
  knot is at 1/2: lambda_49 = 0.494999, lambda_50 = 0.505101), and m_i = lambda_i outside (0, 1):
  the knots (0, 0) and (1.0001, 1.0001)."""
  lam = np.linspace(0.0, KNOTS_TOP, KNOTS_NUM)
  inside = (lam > 0) & (lam < 1)
  safe = np.where(inside, lam, 0.25)
  mean = np.where(inside, safe / (2 * safe - 1) + 1 / (2 * np.arctanh(1 - 2 * safe)), lam)
  return lam.astype(np.float32), mean.astype(np.float32)


KNOTS_LAMBDA, KNOTS_MEAN = _cb_code_knots()


def lambda_from_mean_knots(mean: jax.Array) -> jax.Array:
  r"""The CB paper code's approximate inverse mean map, as lambda (``cont_bern_lam``).

  Construction (cunningham-lab/cb_and_cc, ``cb/utils.py``): 100 knots in *lambda*,
  :math:`\lambda_i = 1.0001\, i / 99` (``np.linspace(0, 1 + 1e-4, 100)``), with their CB means
  :math:`m_i = \mu(\lambda_i)` (closed form, float64; :math:`m_i = \lambda_i` for the end knots
  :math:`\lambda_0 = 0` and :math:`\lambda_{99} = 1.0001`, outside (0, 1)), both rounded to
  float32 (``_cb_code_knots``). The map interpolates lambda linearly *as a function of the mean*:
  for :math:`m_i \le m < m_{i+1}`,

  .. math::  \lambda(m) = \lambda_i + (m - m_i)\,
             \frac{\lambda_{i+1} - \lambda_i}{m_{i+1} - m_i},

  and :math:`\lambda(m) = 0` for every mean outside :math:`[m_0, m_{99}) = [0, 1.0001)`: there
  all of their code's segment masks are zero (a NaN mean stays NaN here; theirs gives 0). Their
  code evaluates each segment's line from its right knot, this from its left: the same to float32
  rounding (1.8e-7 in lambda). The result is not clipped: the caller clips (their evaluation clips
  lambda to [1e-4, 1 - 1e-4] after the map).

  Where it departs from the exact map (``logits_from_mean``; measured in float64 on 40,000 means
  geometrically spaced towards 0 and 1, ``tests/test_mean_map_knots.py``):

  * **The outer segments.** The knots are uniform in lambda, and the mean is flat in lambda near
    the ends, so the first segment spans the means [0, 0.2078] (lambda [0, 0.0101]) and the last
    [0.7926, 1.0001] (lambda [0.9900, 1.0001]). Inside [0.2078, 0.7926] the error is at most
    6.3e-4 in lambda and 1.8e-3 in the CB mean of the lambda it gives; in the outer segments the
    straight line misses the exact lambda ~ exp(-1/m) by up to 0.0060 in lambda (at m = 0.143:
    0.00695 against 0.00096) and 0.123 in the mean (at m = 0.020 the lambda it gives has CB mean
    0.143): small means are pushed up toward 1/2, large means down (by up to 0.121, at m = 0.978:
    0.857).
  * **Asymmetry.** The grid runs to 1.0001, not 1: the map is not symmetric (lambda(1 - m) is not
    1 - lambda(m)), and lambda exceeds 1 for means above 0.99805 (1.00009 at m = 0.9999), which
    only the caller's clip makes a valid parameter.
  * **Near 1/2** the float32 knots give lambda(1/2) = 0.5 - 1.3e-8.

  With the paper's clip (lambda in [1e-4, 1 - 1e-4] before and after the map) the CB mean of the
  result differs from that of the exact map by at most 0.077 (at m = 0.1085: 0.1855 against
  0.1085, and symmetrically -0.077 at m = 0.8915); both then lie in [0.1085, 0.8915].

  Args:
    mean: means, any shape; evaluated in their floating dtype (at least float32) with the float32
      knots. Differentiable: d lambda / d m is the segment's slope, 0 outside the knots.
  """
  m = jnp.asarray(mean, float_dtype(mean))
  lam_k = jnp.asarray(KNOTS_LAMBDA, m.dtype)
  mean_k = jnp.asarray(KNOTS_MEAN, m.dtype)
  i = jnp.searchsorted(mean_k, m, side="right") - 1  # m_i <= m < m_{i+1}
  inside = (i >= 0) & (i < KNOTS_NUM - 1)
  j = jnp.clip(i, 0, KNOTS_NUM - 2)
  slope = (lam_k[j + 1] - lam_k[j]) / (mean_k[j + 1] - mean_k[j])
  outside = jnp.where(jnp.isnan(m), m, 0.0)
  return jnp.where(inside, lam_k[j] + (m - mean_k[j]) * slope, outside)


def logits_from_mean_knots(mean: jax.Array) -> jax.Array:
  r"""The logit of the CB paper code's approximate inverse mean map (``lambda_from_mean_knots``).

  :math:`\eta = \log\lambda - \log(1 - \lambda)` of its lambda clamped to
  [tiny, 1 - epsneg] of the dtype: the map gives lambda = 0 outside its knots and lambda > 1 for
  means above 0.99805, no CB parameter either; the clamp keeps the logit finite there (float32:
  [-87.3, 16.6]; a NaN mean gives a NaN logit). The paper's clip, lambda in [1e-4, 1 - 1e-4],
  lies inside the clamp, so ``clip_logits`` after this is their clip of lambda after
  ``cont_bern_lam``.
  """
  lam = lambda_from_mean_knots(mean)
  finfo = jnp.finfo(lam.dtype)
  lam = jnp.clip(lam, finfo.tiny, 1 - finfo.epsneg)
  # log(1 - lambda): log1p only where its argument stays in (-1/4, 0] (LOG1P_SAFE).
  small = lam < LOG1P_SAFE
  return jnp.log(lam) - jnp.where(small, jnp.log1p(-jnp.where(small, lam, 0.0)), jnp.log(1 - lam))


@distribution_dataclass
class ContinuousBernoulli(Distribution):
  """CB(sigmoid(logits)) on [0, 1], elementwise. See the module docstring for the math."""

  logits: jax.Array

  support = "unit_interval"
  has_cdf = True

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
    """F(x) = expm1(eta x) / expm1(eta); exactly 0 at x <= 0 and 1 at x >= 1 for every logit."""
    eta = jnp.asarray(self.logits)
    x = jnp.asarray(x, float_dtype(eta, x))
    y = jnp.clip(x, 0.0, 1.0)
    a = jnp.abs(eta)
    tiny = a < 1e-10  # first order in eta below: error ~eta^2 / 100
    a_safe = jnp.where(tiny, 1.0, a)
    # Overflow-free and accurate relative to F itself (no 1 - F): with a = |eta|,
    #   eta < 0: F = expm1(-a y) / expm1(-a);   eta > 0: F = e^{-a (1 - y)} expm1(-a y) / expm1(-a).
    f = jnp.expm1(-a_safe * y) / jnp.expm1(-a_safe)
    f = jnp.where(eta > 0, jnp.exp(a_safe * (y - 1)) * f, f)
    f = jnp.where(tiny, y + eta * y * (y - 1) / 2, f)
    return jnp.where(x <= 0, 0.0, jnp.where(x >= 1, 1.0, f))

  def log_cdf(self, x):
    """log F(x), finite however deep in the lower tail: with a = |eta| and y = clip(x, 0, 1),
    log(-expm1(-a y)) - log(-expm1(-a)), plus -a (1 - y) for eta > 0 (see ``cdf``)."""
    eta = jnp.asarray(self.logits)
    x = jnp.asarray(x, float_dtype(eta, x))
    inside = (x > 0) & (x < 1)
    y = jnp.where(inside, x, 0.5)
    a = jnp.abs(eta)
    tiny = a < 1e-10
    a_safe = jnp.where(tiny, 1.0, a)
    log_f = jnp.log(-jnp.expm1(-a_safe * y)) - jnp.log(-jnp.expm1(-a_safe))
    log_f = jnp.where(eta > 0, a_safe * (y - 1) + log_f, log_f)
    log_f = jnp.where(tiny, jnp.log(y) + jnp.log1p(eta * (y - 1) / 2), log_f)
    return jnp.where(inside, log_f, jnp.where(x <= 0, -jnp.inf, 0.0))

  def log_survival(self, x):
    """log P(X > x) = log F_{-eta}(1 - x): 1 - X is continuous Bernoulli with logit -eta."""
    return self.log_tail(x, True)

  def log_tail(self, x, upper):
    """Both tails in one ``log_cdf`` evaluation, of the reflected CB where ``upper``."""
    x = jnp.asarray(x, float_dtype(self.logits, x))
    eta = jnp.where(upper, -self.logits, self.logits)
    return ContinuousBernoulli(logits=eta).log_cdf(jnp.where(upper, 1 - x, x))

  def icdf(self, u):
    """Inverse cdf F^{-1}(u) = log(1 + u (e^eta - 1)) / eta; exactly 0 at u = 0 and 1 at u = 1.

    Relative accuracy in both tails of u, in three cancellation-free forms (a = |eta|):

    * |eta| < 1: log1p(u expm1(eta)) / eta;
    * eta >= 1: log1p(w) / a, w = u (e^a - 1); beyond a = 80 as softplus(log w) / a with
      log w = log u + a + log(1 - e^-a), without forming e^a (no overflow at eta = 1e4);
    * eta <= -1: -log1p(-u (1 - e^-a)) / a while u (1 - e^-a) < 1/4, else -log((1 - u) + u e^-a)
      / a, a sum of positive terms (1 - u is exact for u >= 1/2, within eps/4 above 1/4).

    (The former ``1 + log(u + (1 - u) e^-a) / a`` for eta >= 1 cancelled at small u: relative error
    1e-4 at eta = 1, u = 1e-12, in float64.)
    """
    eta = jnp.asarray(self.logits)
    u = jnp.asarray(u, float_dtype(eta, u))
    a = jnp.abs(eta)
    tiny = a < 1e-10
    small = a < 1
    e_small = jnp.where(small & ~tiny, eta, 1.0)
    a_big = jnp.where(small, 1.0, a)
    # |eta| < 1: log1p(u expm1(eta)) / eta, accurate relative to the result (log() of a number near 1
    # would lose eps / |eta|: 0.01 in float32 at eta = 1e-5).
    y_small = jnp.log1p(u * jnp.expm1(e_small)) / e_small
    u_safe = jnp.where(u > 0, u, 1.0)
    one_minus_e = -jnp.expm1(-a_big)  # 1 - e^-a in [0.63, 1]
    # eta >= 1: log1p(w) / a, w = u (e^a - 1): directly up to a = 80 (e^80 is finite in float32),
    # beyond as softplus(log w), log w = log u + a + log(1 - e^-a) (there w < 1 only for u < e^-80).
    a_mid = jnp.minimum(a_big, 80.0)
    y_pos = (
      jnp.where(
        a_big <= 80,
        jnp.log1p(u * jnp.expm1(a_mid)),
        jax.nn.softplus(jnp.log(u_safe) + a_big + jnp.log(one_minus_e)),
      )
      / a_big
    )
    # eta <= -1: -log(1 - u (1 - e^-a)) / a, by log1p where the argument is small, else as a sum.
    v = u * one_minus_e
    low = v < LOG1P_SAFE  # (XLA's float64 log1p is inaccurate on (-0.5, -0.3))
    y_neg = (
      -jnp.where(
        low,
        jnp.log1p(-jnp.where(low, v, 0.0)),
        jnp.log((1 - u) + u * jnp.exp(-a_big)),
      )
      / a_big
    )
    y = jnp.where(small, y_small, jnp.where(eta > 0, y_pos, y_neg))
    y = jnp.where(tiny, u - eta * u * (u - 1) / 2, y)
    return jnp.where(u <= 0, 0.0, jnp.where(u >= 1, 1.0, jnp.clip(y, 0.0, 1.0)))

  def sample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    u = jax.random.uniform(key, shape, dtype=float_dtype(self.logits))
    return self.icdf(u)


def clip_logits(logits: jax.Array, lambda_clip: float) -> jax.Array:
  """Logits clipped so that lambda = sigmoid(logit) lies in [c, 1 - c] (c = 0: unchanged).

  The CB paper's notebooks clip lambda itself to [1e-4, 1 - 1e-4]; the same set in logit space is
  [-L, L] with L = log(1 - c) - log(c), with no rounding of lambda near 0 or 1.
  """
  if lambda_clip == 0:
    return logits
  if not 0 < lambda_clip < 0.5:
    raise ValueError(f"lambda_clip={lambda_clip!r} must be 0 (off) or in (0, 0.5)")
  bound = math.log1p(-lambda_clip) - math.log(lambda_clip)
  return jnp.clip(logits, -bound, bound)


class ContinuousBernoulliLikelihood(Likelihood):
  """``continuous_bernoulli``: one logit per pixel; the display parameter is lambda = sigmoid(logit).

  ``lambda_clip`` (default 0, off): lambda clipped to [c, 1 - c] as in the CB paper's notebooks
  (c = 1e-4; see the module docstring)."""

  lambda_clip: float = 0.0

  num_outputs = 1
  display_name = "lambda"
  registry_name = "continuous_bernoulli"
  distribution_type = ContinuousBernoulli

  def distribution(self, raw, x=None, *, train=False):
    return ContinuousBernoulli(logits=clip_logits(raw[..., 0], self.lambda_clip))

  def display(self, raw):
    return jax.nn.sigmoid(clip_logits(raw[..., 0], self.lambda_clip))

  def at_prediction(self, p, scale):
    """lambda = p (the CB's minimum over lambda is not at the target; its mean's is)."""
    p = jnp.asarray(p)
    return ContinuousBernoulli(clip_logits(jnp.log(p) - jnp.log1p(-p), self.lambda_clip))
