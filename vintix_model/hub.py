"""Publishing a checkpoint as a Hub model repo: weights, config, metadata, loss curve and a model card rendered from
``cards/model_card.md``. Every Hub call goes through the data side's client (``vintix_data.hub.client``): the
same repo-id and token checks and the same one-line errors as ``vintix-data push``.

The checkpoint format itself (save, load, atomic writes) is :mod:`vintix_model.model.checkpoint`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from vintix_data.card import card_template
from vintix_data.hub.client import api as hub_api
from vintix_data.hub.client import check_repo_id, hub_errors, require_token
from vintix_model.model.checkpoint import CONFIG, METADATA, WEIGHTS, checkpoint_dir, read_config, vintix_version
from vintix_model.model.config import to_dict

CARD_TEMPLATE = "model_card.md"
PUSHED_FILES = (WEIGHTS, CONFIG, METADATA, "loss.png", "metrics.jsonl")

__all__ = ["CARD_TEMPLATE", "PUSHED_FILES", "push", "render_card"]


def render_card(folder: Path, repo_id: str | None = None) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    model_cfg, groups, meta = read_config(folder)
    tasks = meta.get("tasks", {})
    datasets = [t["dataset"] for t in tasks.values() if t.get("dataset")]
    hub_datasets = [d["source"] for d in datasets if d.get("resolved_revision")]
    card_data = ModelCardData(
        license="apache-2.0",
        library_name="vintix",
        tags=["reinforcement-learning", "in-context-reinforcement-learning", "algorithm-distillation", "vintix"],
        datasets=hub_datasets or None,
    )
    template = card_template(CARD_TEMPLATE)
    card = ModelCard.from_template(
        card_data,
        template_path=str(template),
        repo_id=repo_id or "vintix-model",
        model=to_dict(model_cfg),
        d_model=model_cfg.d_model,
        groups=groups,
        tasks=tasks,
        datasets=datasets,
        train=meta.get("train_config", {}),
        step=meta.get("step"),
        parameters=meta.get("parameters"),
        final_loss=meta.get("final_loss"),
        world=meta.get("world_size", 1),
        converted=meta.get("converted_from"),
        has_plot=(folder / "loss.png").exists(),
        version=vintix_version(),
    )
    return str(card)


def push(
    checkpoint: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload one checkpoint (weights, config, metadata, card, loss curve) as a Hub model repo; the commit URL.

    Raises CheckpointError for a bad checkpoint and ``vintix_data.hub.client.HubError`` (one line) for a bad repo id,
    a missing token or anything the Hub answers."""
    folder = checkpoint_dir(checkpoint)
    read_config(folder)
    check_repo_id(repo_id, kind="model")
    api = hub_api(require_token(token))
    with (
        tempfile.TemporaryDirectory(prefix="vintix-push-") as tmp,
        hub_errors(repo_id, revision, prefix=f"push to {repo_id} failed: "),
    ):
        stage = Path(tmp)
        for name in PUSHED_FILES:
            if (folder / name).exists():
                shutil.copy2(folder / name, stage / name)
        (stage / "README.md").write_text(render_card(folder, repo_id))
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=str(stage),
            revision=revision,
            commit_message=commit_message or f"Vintix checkpoint {folder.name}",
        )
    return str(getattr(info, "commit_url", info))
