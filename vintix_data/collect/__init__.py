"""Noise-distillation collection (DESIGN §2, §3): ``vintix-data collect``.

config.py     CollectConfig (frozen, built once), CollectPlan (what prepare resolved) and CollectError
parts.py      per-episode part files and the seeded per-episode noise
collector.py  Collector: histories on a gymnasium vector env, one part file per completed episode
workers.py    several processes, each on its own histories
finalize.py   parts -> the published folder (shards, episodes, stats, info, plot, card, manifest)
progress.py   the rich progress display
run.py        prepare (-> CollectPlan) and collect, the whole command
"""

from vintix_data.collect.collector import Collector, DropInfo
from vintix_data.collect.config import CollectConfig, CollectError, CollectPlan
from vintix_data.collect.run import collect, prepare, run_identity
from vintix_data.collect.workers import run_workers

__all__ = [
    "CollectConfig",
    "CollectError",
    "CollectPlan",
    "Collector",
    "DropInfo",
    "collect",
    "prepare",
    "run_identity",
    "run_workers",
]
