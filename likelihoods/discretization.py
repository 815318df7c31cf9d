r"""The 8-bit grid every decoder is compared on, and the 8-bit likelihood of a continuous cdf.

**The bins.** A pixel is an integer :math:`k \in \{0, \dots, 255\}`; its bin is
:math:`[k/256, (k+1)/256)`, of width :math:`h = 1/256`. These are the bins of the project's
dequantization, :math:`x = (k + u)/256` with :math:`u \in [0, 1)` (``vae.data.preprocess``), so
``floor(256 x) == k`` exactly, and of the common measure's dequantized test set. (PixelCNN++ puts
its bins of width 2/255 on [-1, 1], centred on the integer levels; we keep the dequantization's,
so every decoder, continuous or natively 8-bit, is scored on one grid.) ``bin_of`` maps a value
in [0, 1] to its bin, with x = 1 (the ``continuous`` protocol's pixel 255) in bin 255.

**A continuous cdf discretized** (``log_probs_from_tails``, the default
``Distribution.log_prob_8bit``): :math:`P(k) = F((k+1)/256) - F(k/256)` with the edges folded
(:math:`F(0^-) = 0` at k = 0 and :math:`F(1) = 1` at k = 255, so a Gaussian's tails land in the
edge bins). Differences of cdfs are taken in whichever tail is smaller
(``Distribution.log_tail``: survival functions above the mean), so bins far in the upper tail keep
their relative accuracy, and logs never underflow: a pixel e^-450 deep in a decoder's tail costs
its 450 nats, not float32's floor of 87.

**Memory and speed** (``map_in_chunks``): the natively 8-bit decoders hold 256 probabilities per
pixel; an importance-weighted evaluation of 100 latent samples x 100 images would hold 8 GB of
them at once. Their per-pixel work over all 256 levels runs in chunks of at most
``CHUNK_ELEMENTS`` values, and on a CPU the categorical's in cache-sized ones (``chunk_budget``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

NUM_LEVELS = 256  # 8-bit pixels k = 0 .. 255
BIN_WIDTH = 1.0 / NUM_LEVELS  # h: bin k is [k h, (k + 1) h)
LOG_NUM_LEVELS = math.log(NUM_LEVELS)  # log 256: a pmf P(k) is the density 256 P(k) on its bin
# |log(T_near / T_far)| below which a bin is integrated by the midpoint rule, per dtype: the
# difference of tails loses about eps / |log(T_near / T_far)| (relative) to cancellation, the
# midpoint rule (h^2 / 24) |f'' / f| (~1e-5 at worst on a bin with little mass: Beta(1/2, 1/2) at
# bin 200). In float32 the midpoint rule wins below 1e-2; in float64 the tails stay better
# (1e-9 at 1e-7) down to where the bin's mass is lost below the tail's rounding.
FLAT_BIN = 1e-2
FLAT_BIN_FLOAT64 = 1e-7
# Values (pixels x levels, or pixels x levels x components) one chunk of ``map_in_chunks`` holds:
# 2^25 float32 = 128 MiB per intermediate, a bound on memory.
CHUNK_ELEMENTS = 2**25
# On a CPU, work over all 256 levels of every pixel runs fastest in cache-sized chunks: 2^18
# values (1 MiB; one 28 x 28 image's 784 x 256 logits). Measured on the 2-core CPU, the
# categorical's log-likelihood and its gradient for a batch of 128 images: 0.9-1.1 s in one piece
# (100 MB intermediates), 0.15-0.23 s one image at a time.
CPU_CACHE_CHUNK_ELEMENTS = 2**18


def chunk_budget(cache_sized: bool = False) -> int:
  """Values per chunk: ``CPU_CACHE_CHUNK_ELEMENTS`` for cache-bound work on a CPU backend, else
  ``CHUNK_ELEMENTS`` (on an accelerator one large chunk is fastest; the bound is memory)."""
  if cache_sized and jax.default_backend() == "cpu":
    return CPU_CACHE_CHUNK_ELEMENTS
  return CHUNK_ELEMENTS


def bin_of(x) -> jax.Array:
  """The 8-bit level k whose bin [k/256, (k+1)/256) holds x (int32); x = 1 goes to bin 255.

  Exact on dequantized inputs: (k + u)/256 with u on the 2^-16 grid is exact in float32, and so is
  256 x. Values outside [0, 1] are clipped to the edge bins (callers that must tell them apart test
  ``x`` themselves)."""
  x = jnp.asarray(x)
  return jnp.clip(jnp.floor(x * NUM_LEVELS), 0, NUM_LEVELS - 1).astype(jnp.int32)


def as_levels(pixels) -> jax.Array:
  """8-bit pixels (uint8, int or integer-valued float) as int32 levels in [0, 255]."""
  pixels = jnp.asarray(pixels)
  if jnp.issubdtype(pixels.dtype, jnp.floating):
    pixels = jnp.round(pixels)
  return jnp.clip(pixels, 0, NUM_LEVELS - 1).astype(jnp.int32)


def uniform_on_grid(key: jax.Array, shape, dtype) -> jax.Array:
  """u in [0, 1) on the 2^-16 grid, as the dequantization draws it: k + u is exact in float32, so
  (k + u)/256 lies in bin k (a uniform with 24 bits could round k + u up to k + 1)."""
  return jax.random.bits(key, tuple(shape), jnp.uint16).astype(dtype) / 2.0**16


def level_centers(dtype) -> jax.Array:
  """(k + 1/2)/256 for k = 0 .. 255: the bins' midpoints, the mean of each bin's uniform."""
  return (jnp.arange(NUM_LEVELS, dtype=dtype) + 0.5) / NUM_LEVELS


def log_probs_from_tails(dist, pixels):
  """log P(pixel = k) per pixel, P(k) = F((k+1)/256) - F(k/256) with folded edges, in log space.

  In the tail nearer the bin (lower: F, upper: the survival function S), with T_far >= T_near
  the tail probabilities at the bin's two edges, log P = log T_far + log1p(-T_near / T_far).
  ``dist`` must have a continuous cdf (``log_tail``); a Bernoulli raises NotImplementedError.
  """
  k = jnp.asarray(pixels).astype(jnp.float32)
  lo, hi = k / 256, (k + 1) / 256
  upper = (lo + hi) / 2 > dist.mean()
  log_lo, log_hi = dist.log_tail(lo, upper), dist.log_tail(hi, upper)
  # Folded edges: F(0-) = 0 and F(1) = 1, i.e. S(0-) = 1 and S(1) = 0.
  log_lo = jnp.where(k <= 0, jnp.where(upper, 0.0, -jnp.inf), log_lo)
  log_hi = jnp.where(k >= 255, jnp.where(upper, -jnp.inf, 0.0), log_hi)
  far, near = jnp.where(upper, log_lo, log_hi), jnp.where(upper, log_hi, log_lo)
  d = jnp.where(jnp.isneginf(near), -jnp.inf, near - far)
  # A bin holding under 1% of its tail in float32 (1e-7 in float64; a density flat on the bin's
  # scale: a wide Gaussian): the difference of tails would lose eps / |d| to cancellation (or round
  # to log 0), while the midpoint rule is good to (h^2 / 24) f''/f, ~1e-5 or better there; use the
  # better one for the dtype (``FLAT_BIN``).
  flat_bin = FLAT_BIN_FLOAT64 if jnp.result_type(far) == jnp.float64 else FLAT_BIN
  flat = dist.log_prob((lo + hi) / 2) - math.log(256.0)
  kink = dist.kink()
  if kink is not None:
    # A bin holding a kink of the density (``Distribution.kink``: a Laplace's median) is split
    # there, the midpoint rule on each side (on the whole bin it would miss the kink: 1.6e-4 nats
    # for a Laplace of scale 1).
    inside = (lo < kink) & (kink < hi)
    c = jnp.where(inside, kink, (lo + hi) / 2)
    halves = jnp.logaddexp(
      jnp.log(c - lo) + dist.log_prob((lo + c) / 2), jnp.log(hi - c) + dist.log_prob((c + hi) / 2)
    )
    flat = jnp.where(inside, halves, flat)
  return jnp.where(d < -flat_bin, far + log1mexp(jnp.minimum(d, 0.0)), flat)


# XLA's float64 log1p (jax 0.10, CPU) loses up to 2.6e-14 relative (about 120 ulp) on arguments in
# (-0.5, -0.3); float32's, and float64's elsewhere, are good to an ulp or two. The forms below keep
# log1p's arguments within (-0.25, 0] (``tests/test_tails.py`` checks log1p's accuracy).
LOG1P_SAFE = 0.25


def log1mexp(d):
  """log(1 - e^d) for d <= 0 (-inf at d = 0, 0 at d = -inf): log(-expm1(d)) for e^d > 1/4, where
  1 - e^d < 3/4 keeps its digits, else log1p(-e^d) (Maechler's split at -log 2, moved to -log 4 to
  keep XLA's float64 log1p on its accurate range)."""
  near_zero = d > -1.3862943611198906
  return jnp.where(
    near_zero,
    jnp.log(-jnp.expm1(jnp.where(near_zero, d, -1.0))),
    jnp.log1p(-jnp.exp(jnp.where(near_zero, -1.0, d))),
  )


def map_in_chunks(fn, arrays, lead_ndim: int, values_per_item: int, budget: int | None = None):
  """``fn(*arrays)``, computed over chunks of the arrays' ``lead_ndim`` leading axes.

  Every array of ``arrays`` has the same ``lead_ndim`` leading axes (the items: images, latent
  samples); ``fn`` works on any number of items and returns a pytree of arrays whose leading axes
  are the items. When the items' intermediates (``values_per_item`` values per item) exceed
  ``budget`` values (default ``CHUNK_ELEMENTS``), the lead axes are flattened, padded to a whole
  number of chunks and mapped with ``lax.map``, so at most ``budget`` values are live at once;
  otherwise ``fn`` runs as it is. The chunking is static (shapes are known under ``jit``); items
  are computed independently, so it changes values by rounding at most (a matmul's blocking)."""
  if not arrays:
    return fn()
  budget = CHUNK_ELEMENTS if budget is None else budget
  lead = arrays[0].shape[:lead_ndim]
  items = math.prod(lead)
  per_chunk = max(1, budget // max(values_per_item, 1))
  if lead_ndim == 0 or items <= per_chunk:
    return fn(*arrays)
  num_chunks = -(-items // per_chunk)
  padded = num_chunks * per_chunk

  def split(a):
    a = a.reshape((items,) + a.shape[lead_ndim:])
    a = jnp.pad(a, [(0, padded - items)] + [(0, 0)] * (a.ndim - 1))
    return a.reshape((num_chunks, per_chunk) + a.shape[1:])

  # Rematerialized: differentiating a map stacks each chunk's residuals (all of them, at full
  # size); with jax.checkpoint only the inputs are kept and each chunk is recomputed.
  out = jax.lax.map(jax.checkpoint(lambda chunk: fn(*chunk)), tuple(split(a) for a in arrays))

  def merge(o):
    o = o.reshape((padded,) + o.shape[2:])[:items]
    return o.reshape(lead + o.shape[1:])

  return jax.tree.map(merge, out)


def moments_of_pmf(probs, dtype):
  """Mean and variance of the piecewise-constant density 256 P(floor(256 x)) on [0, 1], from the
  pmf ``probs`` [..., 256]: with c_k = (k + 1/2)/256,

  E x = sum_k P(k) c_k,   Var x = sum_k P(k) (c_k - E x)^2 + h^2 / 12,

  the last term the variance of the uniform within a bin (h = 1/256). The variance is summed
  around the mean (two passes), not as E x^2 - (E x)^2, which would cancel to a few percent of a
  pixel's variance when it is near h^2 / 12 (most of MNIST's background)."""
  c = level_centers(dtype)
  total = jnp.sum(probs, -1)
  mean = jnp.sum(probs * c, -1) / total
  var = jnp.sum(probs * jnp.square(c - mean[..., None]), -1) / total + BIN_WIDTH**2 / 12
  return mean, var
