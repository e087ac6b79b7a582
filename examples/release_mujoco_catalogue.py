"""`release mujoco` end to end on the catalogue, without the real Hub (issue 25): the project's test Hub
(tests/hub_server.py) serves a synthetic SB3 zip under every catalogued name (a fresh, untrained model of the
catalogue's algorithm on the task's own env: real loading, real gate, real collection; not an expert), and the tasks
with no public expert (Ant, HumanoidStandup) are trained by the release (--train-missing, tiny --train-timesteps).
--force collects though such demonstrators fail the gate. Run from the repository root:

    python examples/release_mujoco_catalogue.py ROOT [--histories 2] [--steps 20000] [--train-timesteps 2000]

It prints the release's report.md; each row's demonstrator column names its route.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.hub_server lives beside the package


def synthetic_zip(task_id: str, algo: str, out: Path) -> None:
    from vintix_data.domains import resolve
    from vintix_data.registry import get_task

    env = resolve(get_task(task_id)).make_env()
    if algo == "TQC":
        from sb3_contrib import TQC as cls
    else:
        import stable_baselines3

        cls = getattr(stable_baselines3, algo)
    kw = {} if algo == "PPO" else {"buffer_size": 100}
    cls("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [64, 64]}, **kw).save(str(out))
    env.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--histories", default="2")
    ap.add_argument("--steps", default="20000")
    ap.add_argument("--train-timesteps", default="2000")
    args = ap.parse_args()
    from huggingface_hub import HfApi

    from tests.conftest import HUB_TOKEN, hub_client_env
    from tests.hub_server import HubServer
    from vintix_data.catalogue import catalogue

    work = Path(tempfile.mkdtemp(prefix="vintix-catalogue-"))
    with HubServer(tokens={HUB_TOKEN}) as hub:
        api = HfApi(endpoint=hub.url, token=HUB_TOKEN)
        for task, e in catalogue().items():
            if not e.repo:
                continue
            path = work / e.file
            synthetic_zip(task, e.algo, path)
            api.create_repo(e.repo, exist_ok=True)
            api.upload_file(path_or_fileobj=str(path), path_in_repo=e.file, repo_id=e.repo)
            print(f"served {e.repo}/{e.file} ({e.algo}, synthetic)", flush=True)
        env = {**os.environ, **hub_client_env(hub.url, work / "hf_home"), "VINTIX_CACHE": str(work / "cache")}
        cmd = [
            sys.executable,
            "-m",
            "vintix_data.cli",
            "release",
            "mujoco",
            "--out",
            args.root,
            "--histories",
            args.histories,
            "--steps",
            args.steps,
            "--force",
            "--train-missing",
            "--train-timesteps",
            args.train_timesteps,
            "--reference-episodes",
            "5",
            "--gate-episodes",
            "5",
        ]
        print("$ vintix-data " + " ".join(cmd[3:]), flush=True)
        rc = subprocess.call(cmd, env=env)
    print((Path(args.root) / "report.md").read_text())
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
