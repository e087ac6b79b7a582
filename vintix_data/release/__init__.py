"""``vintix-data release``: many tasks at once, from demonstrator to validated dataset, on local processes or Ray.

config.py     ReleaseConfig (what is made; what a --resume must share) and ReleaseError
units.py      the units of work (train, gate, one history, finalize): idempotent functions any process runs
executors.py  local processes or Ray, with bounded retries of units whose process died
state.py      release.json and .release/tasks.json (the driver's own state, written atomically)
driver.py     the depth-first scheduler over every task's stages
report.py     report.md / report.json / report.png beside the paper's figures
progress.py   the rich view of a whole release
"""

from vintix_data.release.config import ReleaseConfig, ReleaseError
from vintix_data.release.driver import ReleaseSummary, release

__all__ = ["ReleaseConfig", "ReleaseError", "ReleaseSummary", "release"]
