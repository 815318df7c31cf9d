r"""Objectives built from the model's per-sample pieces (``VAE.__call__``). All values are per image,
in nats (sums over pixels and latent dimensions); "higher is better" for bounds.

ELBO, with the analytic KL (the estimator used for training and reporting):

.. math::  \mathcal L(x) = \mathbb E_{q(z|x)} \log p(x|z) - \mathrm{KL}(q(z|x)\,\|\,p(z)),

estimated with K reparameterized samples as the mean over k of log p(x|z_k), minus the KL. The
beta-VAE objective weighs the KL by ``kl_weight`` (the beta of beta-VAE; 1 is the ELBO).

Importance-weighted bound (Burda et al. 2016), with :math:`w_k = p(x|z_k)p(z_k)/q(z_k|x)`:

.. math::  \mathcal L_K(x) = \log \frac1K \sum_{k=1}^K w_k \;\le\; \log p(x),

computed with ``logsumexp``. For K = 1 it is the single-sample Monte Carlo ELBO (sampled, not
analytic, KL); it increases with K towards log p(x).

Bits per dimension for data on [0, 1) that were dequantized as (pixel + u)/256, D = 784:

.. math::  \text{bits/dim} = \frac{-\log p(\tilde x) + D \log 256}{D \log 2}

(the density of the 8-bit-scaled data, i.e. of pixel + u on [0, 256)^D).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

NUM_PIXELS = 784


def elbo(out: dict, kl_weight: float = 1.0) -> jax.Array:
  """Per-example (beta-)ELBO with the analytic KL: mean_k log p(x|z_k) - kl_weight KL. Shape [B]."""
  return jnp.mean(out["log_px_z"], axis=0) - kl_weight * out["kl"]


def mc_elbo(out: dict) -> jax.Array:
  """Per-example ELBO with the sampled KL: mean_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)]."""
  return jnp.mean(log_weights(out), axis=0)


def log_weights(out: dict) -> jax.Array:
  """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x); shape [K, B]."""
  return out["log_px_z"] + out["log_pz"] - out["log_qz_x"]


def iwae_bound(out: dict) -> jax.Array:
  """Per-example importance-weighted bound log mean_k w_k. Shape [B]."""
  lw = log_weights(out)
  return jax.nn.logsumexp(lw, axis=0) - math.log(lw.shape[0])


def bits_per_dim(log_likelihood: jax.Array, num_dims: int = NUM_PIXELS) -> jax.Array:
  """bits/dim of dequantized 8-bit data from a log density on [0, 1)^D (see module docstring)."""
  return (-log_likelihood + num_dims * math.log(256.0)) / (num_dims * math.log(2.0))


def training_loss(
  out: dict, *, kl_weight: float = 1.0, importance_weighted: bool = False
) -> jax.Array:
  """Mean over the batch of the negative objective the config trains on."""
  bound = iwae_bound(out) if importance_weighted else elbo(out, kl_weight)
  return -jnp.mean(bound)
