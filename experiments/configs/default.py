"""Base configuration: the continuous-Bernoulli paper's MNIST VAE with a Bernoulli decoder.

    uv run python -m experiments.train --config experiments/configs/default.py --workdir runs/default

Every other config starts from ``get_config()`` here and changes a few fields; any field can be
overridden on the command line, e.g. ``--config.likelihood=beta --config.num_epochs=3``.

Protocol (shared/docs/reference-protocols.md, Loaiza-Ganem & Cunningham 2019): dequantized MNIST
((pixel + u)/256), latent 20, encoder 784-500-500 / decoder 20-500-500, ReLU, dropout 0.1, Adam 1e-3.
Their batch size is not stated; we use 128 (the PyTorch example's).

The command above takes an estimated 2 minutes on a 2-core CPU (10 epochs of the measured 5-6 s, one seed) and gives
the same run as ``bernoulli.py``: test ELBO -113.5 nats under the Bernoulli, KL 19.2.
"""

import ml_collections

import likelihoods
from likelihoods import decoders


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.likelihood = "bernoulli"  # likelihoods.available(); for_decoder() sets it by decoder name
  c.likelihood_options = ml_collections.ConfigDict()  # e.g. {"sigma": "optimal"} for gaussian

  c.model = ml_collections.ConfigDict()
  c.model.arch = "mlp"  # "mlp" | "conv"
  c.model.hidden = (500, 500)  # encoder widths; the decoder uses them reversed
  c.model.latent_dim = 20
  c.model.activation = "relu"
  c.model.dropout = 0.1
  c.model.kernel_init = "lecun"  # "lecun" (Flax default) | "glorot" (IWAE paper)

  c.data = ml_collections.ConfigDict()
  c.data.protocol = "dequantized"  # vae.data.PROTOCOLS
  c.data.gamma = 0.0  # warping of the "warped" protocol, in [-0.5, 0.5]
  c.data.source = "auto"  # "idx" | "tfds" | "auto"
  c.data.data_dir = ""  # IDX folder; "" -> $MNIST_DIR, then ../shared/data/mnist
  c.data.train_size = 0  # use the first N training images (0: all, less the validation ones)
  # Held out of the training set (a random subset, seeded by validation_seed): the per-epoch
  # curves and convergence use them, and the test set is left to the final evaluation.
  c.data.validation_size = 0
  c.data.validation_seed = 0
  c.data.test_size = 0  # the per-epoch curves' test images without a validation split (0: all)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"  # any optax optimizer taking learning_rate
  c.optimizer.learning_rate = 1e-3
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.eps = 1e-8
  # "constant" | "iwae" (3^i epochs at lr * 10^(-i/7)) | "warmup_cosine" | "linear" (warm-up,
  # then a cosine or linear decay to 0 at the end of num_epochs)
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_epochs = 0.0  # linear lr warm-up of the decaying schedules (0: none)
  c.optimizer.clip_value = 0.0  # > 0: clip each gradient element to [-v, v] (CB notebooks: 1)

  c.batch_size = 128
  c.num_epochs = 10
  c.kl_weight = 1.0  # weight of the KL term (beta-VAE's beta); 1 is the ELBO
  c.kl_warmup_epochs = 0.0  # > 0: the KL weight rises linearly from 0 over this many epochs
  c.num_importance_samples = 1  # > 1 trains the importance-weighted bound (IWAE)
  c.seed = 0
  c.num_seeds = 1  # independent seeds trained together (vmapped)
  # devices: "auto" | "seeds" | "data" | "SxD" (vae.mesh): auto puts gcd(num_seeds,
  # devices) on the seeds axis (each device trains its own seeds), the rest on data
  c.mesh = "auto"

  c.eval_batch_size = 1000
  c.checkpoint_every_epochs = 1
  c.keep_checkpoints = 3
  c.eval_every_epochs = 1
  c.image_every_epochs = 1
  c.progress_bar = True
  return c


def for_decoder(name: str, **extra_options) -> ml_collections.ConfigDict:
  """``get_config()`` with the likelihood of decoder ``name`` (``likelihoods.decoders``).

  ``likelihood_options`` lists every option of the likelihood (defaults filled in), so each can
  be set from the command line (``--config.likelihood_options.lambda_clip=1e-4``)."""
  d = decoders.get(name)
  c = get_config()
  c.likelihood = d.likelihood
  defaults = {k: v for k, v in likelihoods.options(d.likelihood).items() if k != "event_ndims"}
  options = {**defaults, **d.options, **extra_options}
  c.likelihood_options = ml_collections.ConfigDict(options)
  return c
