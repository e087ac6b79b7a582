"""vintix-data: noise-distilled learning histories as Hugging Face datasets."""

from vintix_data import domains as _domains  # noqa: F401  (registers the user's tasks with the registry)
from vintix_data import envs as _envs  # noqa: F401  (registers vintix/IndustrialBenchmark-v1)
from vintix_data.version import __version__  # noqa: F401  (re-exported; defined in a leaf module, docs/design.md §2)


def load(repo_or_dir, **kwargs):
    """Load a vintix dataset (Hub id or local folder): see :func:`vintix_data.loading.load`."""
    from vintix_data.loading import load as _load

    return _load(repo_or_dir, **kwargs)


def load_suite(org, selection, **kwargs):
    """Every dataset of a selection (``"ml45-train"``, ``"ib"``, a task id, a list ...) from ``org``'s index, each at
    the commit the index pins: see :func:`vintix_data.suite.load_suite`."""
    from vintix_data.suite import load_suite as _load_suite

    return _load_suite(org, selection, **kwargs)
