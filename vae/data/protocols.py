"""Data protocols: how uint8 MNIST becomes model inputs in [0, 1].

Host side, once per run: ``prepare_images`` gives the uint8 array made device-resident.  Device
side, inside the jitted epoch: ``preprocess`` turns a uint8 batch into float32 model inputs in
[0, 1] according to one of ``PROTOCOLS``; it never touches the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vae import noise
from vae.data.mnist import check_choice

PROTOCOLS = ("dequantized", "continuous", "binarized_dynamic", "binarized_static", "warped")


def _as_uint8(images) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise ValueError(f"expected uint8 images, got dtype {images.dtype}")
  return images


def prepare_images(images_uint8: np.ndarray, protocol: str, *, seed: int = 0) -> np.ndarray:
  """The uint8 array to put on device and feed to ``preprocess(..., protocol)``.

  Every protocol but ``binarized_static`` gets the images unchanged (uint8 is 4x smaller on
  device than float32).  ``binarized_static`` gets ONE fixed Bernoulli(pixel/255) sample drawn
  with ``seed``, stored as uint8 in {0, 255} (still a valid image), which ``preprocess`` maps to
  exactly {0., 1.}.  Use different seeds for different splits to decorrelate their noise.
  """
  check_choice("protocol", protocol, PROTOCOLS)
  images = _as_uint8(images_uint8)
  if protocol != "binarized_static":
    return images
  # k uniform on {0, ..., 254}: P(k < pixel) = pixel / 255 exactly.
  k = np.random.default_rng(seed).integers(0, 255, size=images.shape, dtype=np.uint8)
  return np.where(k < images, np.uint8(255), np.uint8(0))


def dequantized_test_set(images_uint8: np.ndarray, seed: int = 0) -> np.ndarray:
  """Fixed-noise dequantized evaluation set ``(pixel + u) / 256`` (float32), same for every run.

  Uses numpy's PCG64 with ``seed`` and the same 2^-16 noise grid as ``preprocess``.
  """
  images = _as_uint8(images_uint8)
  u = np.random.default_rng(seed).integers(0, 2**16, size=images.shape, dtype=np.uint16)
  return ((images + u / 2.0**16) / 256.0).astype(np.float32)  # exact in float32


def warp(x: jax.Array, gamma: float) -> jax.Array:
  """The continuous-Bernoulli paper's warping f_gamma of x in [0, 1], gamma in [-0.5, 0.5]."""
  if not -0.5 <= gamma <= 0.5:
    raise ValueError(f"gamma={gamma!r} outside [-0.5, 0.5]")
  if gamma == -0.5:
    return (x >= 0.5).astype(jnp.float32)
  if gamma < 0:
    return jnp.clip((x + gamma) / (1 + 2 * gamma), 0.0, 1.0)
  return gamma + (1 - 2 * gamma) * x


def preprocess(
  key: jax.Array, images: jax.Array, protocol: str, *, gamma: float = 0.0, packed: bool = False
) -> jax.Array:
  """Map uint8 pixels ``[..., 28, 28]`` to float32 inputs in [0, 1] (same shape); jit-safe.

  ``protocol`` and ``gamma`` must be static (``jax.jit(..., static_argnames=...)``).

  * ``dequantized`` (default protocol): ``(pixel + u) / 256`` with fresh u ~ U[0, 1) from
    ``key``, drawn on the 2^-16 grid so the sum is exact in float32: ``floor(256 x) == pixel``.
  * ``continuous``: ``pixel / 255``.
  * ``binarized_dynamic``: a fresh Bernoulli(pixel / 255) sample from ``key``.
  * ``binarized_static``: input from ``prepare_images`` (uint8 {0, 255}) -> exactly {0., 1.};
    a float input already in {0, 1} is only cast.
  * ``warped``: ``warp(pixel / 255, gamma)``.

  ``key`` is unused by the deterministic protocols. ``packed``: draw the dequantization noise
  four 16-bit values per Threefry evaluation (``vae.noise``, the same distribution at a quarter of
  the cost), as training does; by default it comes from ``jax.random.bits``, as the fixed test
  inputs (``vae.data.inputs``) always have, so they stay what they were.
  """
  check_choice("protocol", protocol, PROTOCOLS)
  images = jnp.asarray(images)
  if protocol == "binarized_static" and jnp.issubdtype(images.dtype, jnp.floating):
    return images.astype(jnp.float32)
  pixels = images.astype(jnp.float32)
  if protocol == "dequantized":
    if packed:
      u = noise.uniform16(key, images.shape)
    else:
      u = jax.random.bits(key, images.shape, jnp.uint16).astype(jnp.float32) / 2.0**16
    return (pixels + u) / 256.0
  if protocol == "binarized_dynamic":
    return jax.random.bernoulli(key, pixels / 255.0).astype(jnp.float32)
  if protocol == "warped":
    return warp(pixels / 255.0, gamma)
  return pixels / 255.0  # continuous, binarized_static
