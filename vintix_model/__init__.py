"""Vintix model: train the in-context RL model on vintix datasets (``vintix-model train``), load and publish it.

``from vintix_model import Vintix`` (imported lazily, so ``vintix-model --help`` does not load torch).
"""

from __future__ import annotations

__all__ = ["ModelConfig", "TrainConfig", "Vintix", "GroupBatch"]


def __getattr__(name: str):
    if name in ("ModelConfig", "TrainConfig"):
        from vintix_model.model import config

        return getattr(config, name)
    if name in ("Vintix", "GroupBatch"):
        from vintix_model.model import vintix

        return getattr(vintix, name)
    raise AttributeError(f"module 'vintix_model' has no attribute {name!r}")
