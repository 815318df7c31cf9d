"""Training: the state (``state``), the optimizer (``optimizer``), devices (``mesh``), config
checks (``checks``), the compiled programs (``programs``) and the loop (``loop``).

``train_and_evaluate(config, workdir)`` is the library function behind ``python -m
experiments.train``, callable from a notebook.
"""

from vae.training.loop import NonFiniteLossError, TrainResult, train_and_evaluate

__all__ = ["NonFiniteLossError", "TrainResult", "train_and_evaluate"]
