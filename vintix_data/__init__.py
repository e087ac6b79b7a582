"""vintix-data: noise-distilled learning histories as Hugging Face datasets."""

__version__ = "0.1.0"

from vintix_data import envs as _envs  # noqa: F401,E402  (registers vintix/IndustrialBenchmark-v1)
