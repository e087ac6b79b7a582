"""The training loop: one process, or one per device under ``torchrun`` (DDP, the sampler sharded by rank).

MSE on every position; AdamW with weight decay on Linear weights only; linear warm-up then cosine, set per
optimizer step from the step number alone (so resuming needs no scheduler state); gradient accumulation with
the loss divided by the number of micro-batches (and DDP's gradient all-reduce skipped on all but the last);
optional global-norm clipping; bf16 autocast on CUDA. Rank 0 writes ``metrics.jsonl``, ``loss.png`` and
checkpoints (``checkpoint.atomic_checkpoint``: a crash mid-save leaves the previous one intact).

``--resume`` reloads the weights, the optimizer and the number of windows consumed, so the run continues with
exactly the batches it would have seen; a checkpoint whose model, data or math-relevant training settings
differ from the current ones is refused.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from vintix_data.errors import UserError
from vintix_data.format import FormatError
from vintix_data.jsonio import dumps
from vintix_data.locking import exclusive_lock
from vintix_data.preflight import check_output_folder
from vintix_model.data.arrays import DataError, TaskData, expand_suites, prepare, use_obs_norm
from vintix_model.data.relabel import window_relabel
from vintix_model.data.sampler import WindowDataset, WindowOrder, index_tasks, make_loader
from vintix_model.model import checkpoint as hub
from vintix_model.model.config import ModelConfig, TrainConfig, model_config_from_dict, to_dict, train_config_from_dict
from vintix_model.model.groups import GroupSpec
from vintix_model.model.layers import flash_attn_func
from vintix_model.model.vintix import Vintix

# TrainConfig fields that do not change the math: they may differ on --resume
RESUME_FREE = {"log_every", "save_every", "keep_checkpoints", "num_workers", "validate", "cpu_threads"}


class TrainError(UserError, ValueError):
    """A run that cannot start or resume (one-line message)."""


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def init_distributed(device: str | None) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
        if use_cuda:
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        return Dist(rank, world, local, torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu"))
    name = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise TrainError(f"--device {name}: CUDA is not available on this machine")
        torch.empty(0, device=dev)
    except (RuntimeError, ValueError) as e:
        raise TrainError(f"--device {name}: unusable ({str(e).splitlines()[0]})") from None
    return Dist(device=dev)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay Linear weights; never norms, biases or the padding vectors."""
    decay = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) in decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decay], "weight_decay": 0.0},
    ]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warm-up, then cosine to ``min_lr_ratio * lr``."""
    warm = cfg.warmup
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def autocast(device: torch.device, precision: str):
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def data_fingerprint(tasks: list[TaskData]) -> list[dict]:
    return [{"task": t.task, "group": t.group, "manifest_sha256": t.source["manifest_sha256"]} for t in tasks]


def _check_resume(
    meta: dict, model_cfg: ModelConfig, train_cfg: TrainConfig, tasks: list[TaskData], world: int
) -> None:
    """Refuse a checkpoint made with another model, other data or other math-relevant settings."""
    where = "checkpoint from another config"
    saved_model = to_dict(model_config_from_dict(meta["model_config"]))
    for k, v in to_dict(model_cfg).items():
        if saved_model.get(k) != v:
            raise TrainError(f"{where}: model.{k} is {saved_model.get(k)!r} there, {v!r} here")
    saved_train = to_dict(train_config_from_dict(meta["train_config"]))
    for k, v in to_dict(train_cfg).items():
        if k not in RESUME_FREE and saved_train.get(k) != v:
            raise TrainError(f"{where}: train.{k} is {saved_train.get(k)!r} there, {v!r} here")
    if meta.get("data") != data_fingerprint(tasks):
        have = ", ".join(d["task"] for d in meta.get("data", []))
        raise TrainError(f"{where}: it was trained on other datasets ({have}) or other versions of them")
    if meta.get("world_size", 1) != world:
        raise TrainError(f"{where}: it ran on {meta.get('world_size', 1)} processes, this run has {world}")


def save_plot(metrics: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not metrics:
        return
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    steps = [m["step"] for m in metrics]
    ax.plot(steps, [m["loss"] for m in metrics], lw=0.8, alpha=0.5, label="loss (per step)")
    k = max(1, len(metrics) // 50)
    smooth = [
        sum(m["loss"] for m in metrics[max(0, i - k + 1) : i + 1]) / len(metrics[max(0, i - k + 1) : i + 1])
        for i in range(len(metrics))
    ]
    ax.plot(steps, smooth, lw=1.6, label=f"mean of last {k}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("MSE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


class Progress:
    """Rich progress on rank 0: step, loss, lr, tokens/s, ETA."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.p = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.p = RichProgress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("lr {task.fields[lr]}"),
                TextColumn("{task.fields[tps]} tok/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.p.add_task("train", total=total, completed=start, loss="-", lr="-", tps="-")
            self.p.start()

    def update(self, step: int, loss: float, lr: float, tps: float) -> None:
        if self.p is not None:
            self.p.update(self.task, completed=step, loss=f"{loss:.4f}", lr=f"{lr:.2e}", tps=f"{tps:,.0f}")

    def close(self) -> None:
        if self.p is not None:
            self.p.stop()


def _prepare_data(refs: list[str], cfg: TrainConfig, ddp: Dist) -> list[TaskData]:
    """Rank 0 validates the datasets and builds the array caches first, then tells the others (who open the
    caches) whether it worked, so a bad dataset stops every rank with rank 0's message instead of a hang."""
    if ddp.world == 1:
        return prepare(refs, cfg.episode_sparsity, validate=cfg.validate, target=cfg.target)
    message: list[str | None] = [None]
    tasks = None
    if ddp.main:
        try:
            tasks = prepare(refs, cfg.episode_sparsity, validate=cfg.validate, target=cfg.target)
        except (DataError, FormatError, ValueError) as e:
            message = [str(e)]
    dist.broadcast_object_list(message, src=0)
    if message[0] is not None:
        raise DataError(message[0])
    return tasks if tasks is not None else prepare(refs, cfg.episode_sparsity, validate=False, target=cfg.target)


def train(
    refs: list[str],
    out: str | Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    device: str | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train (or ``resume``) into the run folder ``out``; the summary has the step, the mean loss of the first
    and last (up to) 50 steps, the latest checkpoint and the trained ``model`` (rank 0)."""
    log = log or (lambda s: print(s, file=sys.stderr))
    model_cfg.check()
    train_cfg.check()
    check_output_folder(out)  # a file, an unwritable place or a non-UTF-8 name: one line before any work
    ddp = init_distributed(device)
    dev = ddp.device
    threads = torch.get_num_threads()
    if dev.type == "cpu" and train_cfg.cpu_threads:
        torch.set_num_threads(train_cfg.cpu_threads)
    try:
        # one run per folder: a second train on the same --out stops at once, naming this one's pid (rank 0 holds it)
        with exclusive_lock(out, "vintix-model train") if ddp.main else contextlib.nullcontext():
            return _train(refs, Path(out), model_cfg, train_cfg, ddp, resume, progress, log)
    finally:
        torch.set_num_threads(threads)


def _train(
    refs: list[str],
    out: Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    ddp: Dist,
    resume: bool,
    progress: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    dev = ddp.device
    if train_cfg.attention == "flash" and (flash_attn_func is None or dev.type != "cuda"):
        raise TrainError(
            "train.attention=flash needs flash-attn installed (pip install 'vintix[gpu]') and a CUDA device"
        )
    resume_from = None
    if resume:
        try:
            resume_from = hub.checkpoint_dir(out)
        except hub.CheckpointError:
            raise TrainError(f"--resume: {out} holds no checkpoint to resume") from None
    elif (out / hub.LATEST).exists():
        raise TrainError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")

    refs, suites = expand_suites(refs)  # suite:ORG/SELECTION -> ORG/vintix-TASK@COMMIT, through the index
    tasks = use_obs_norm(_prepare_data(refs, train_cfg, ddp), model_cfg.obs_norm)  # ddof=1 std for 'original'
    windows = index_tasks(tasks, model_cfg.context, train_cfg.stride, train_cfg.first_windows)
    order = WindowOrder([len(w.starts) for w in windows], train_cfg.seed, train_cfg.mixing, ddp.rank, ddp.world)
    dataset = WindowDataset(tasks, windows, order, model_cfg.context, train_cfg.target, model_cfg.obs_norm)
    dataset.relabel = window_relabel(tasks, train_cfg.relabel, train_cfg.seed, train_cfg.target, ddp.rank)

    groups: dict[str, GroupSpec] = {}
    for t in tasks:
        groups.setdefault(t.group, GroupSpec(t.group, t.obs_dim, t.act_dim))
    torch.manual_seed(train_cfg.seed)
    model = Vintix(model_cfg, groups, {t.task: t.meta() for t in tasks}).to(dev)
    model.set_attention_backend(train_cfg.attention)
    optimizer = torch.optim.AdamW(
        param_groups(model, train_cfg.weight_decay), lr=train_cfg.lr, betas=train_cfg.betas, fused=dev.type == "cuda"
    )
    step, consumed = 0, 0
    if resume_from is not None:
        _, _, meta = hub.read_config(resume_from)
        _check_resume(meta, model_cfg, train_cfg, tasks, ddp.world)
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(resume_from / hub.WEIGHTS), device=str(dev)))
        state = torch.load(resume_from / hub.STATE, map_location=dev, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        step, consumed = int(state["step"]), order.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"].cpu())
    wrapped: nn.Module = model
    ddp_model: nn.parallel.DistributedDataParallel | None = None  # the same model, wrapped, with more than one rank
    if ddp.world > 1:
        wrapped = ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None
        )

    metrics_path = out / "metrics.jsonl"
    metrics: list[dict] = []
    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        for stale in (out / "checkpoints").glob(".*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if metrics_path.exists() and resume_from is not None:
            metrics = [m for m in map(json.loads, metrics_path.read_text().splitlines()) if m["step"] <= step]
        metrics_path.write_text("".join(dumps(m) + "\n" for m in metrics))  # strict JSON lines
        log(
            f"vintix-model train: {model.num_parameters():,} parameters, {len(tasks)} task(s) in {len(groups)} group(s), "
            f"{order.total:,} windows of {model_cfg.context + 1}; {ddp.world} process(es) on {dev.type}; "
            f"{'resuming at step ' + str(step) if resume_from else 'from scratch'}"
        )

    tokens_per_step = train_cfg.batch_size * train_cfg.grad_accum * ddp.world * model_cfg.context
    run_meta = {
        "model_config": to_dict(model_cfg),
        "train_config": to_dict(train_cfg),
        "datasets": list(refs),
        "data": data_fingerprint(tasks),
        "world_size": ddp.world,
        "command": ["vintix-model"] + sys.argv[1:],
    }
    if suites:
        run_meta["suites"] = suites

    def save(at_step: int) -> None:
        def write(folder: Path) -> None:
            tail = [m["loss"] for m in metrics[-50:]]
            final_loss = sum(tail) / len(tail) if tail else None  # mean of the last (up to) 50 steps
            hub.save_pretrained(model, folder, {**run_meta, "step": at_step, "final_loss": final_loss})
            torch.save(
                {
                    "step": at_step,
                    "sampler": order.state_dict(consumed),
                    "optimizer": optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                },
                folder / hub.STATE,
            )
            shutil.copy2(metrics_path, folder / "metrics.jsonl")
            save_plot(metrics, folder / "loss.png")

        hub.atomic_checkpoint(out, f"step-{at_step:07d}", write)
        if metrics:
            shutil.copy2(out / "checkpoints" / f"step-{at_step:07d}" / "loss.png", out / "loss.png")
        kept = sorted(p for p in (out / "checkpoints").glob("step-*") if p.is_dir())
        for old in kept[: -train_cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    loader = make_loader(dataset, train_cfg.batch_size, consumed, train_cfg.num_workers, pin_memory=dev.type == "cuda")
    batches = iter(loader)
    bar = Progress(train_cfg.steps, step, progress and ddp.main)
    t_start = time.perf_counter()
    steps_run = 0
    wrapped.train()
    try:
        with open(metrics_path, "a") if ddp.main else contextlib.nullcontext() as mf:
            while step < train_cfg.steps:
                t0 = time.perf_counter()
                lr = lr_at(step, train_cfg)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                loss_sum = torch.zeros((), device=dev)
                crcs = []
                for micro in range(train_cfg.grad_accum):
                    batch = next(batches)
                    groups_batch = {g: b.to(dev, non_blocking=True) for g, b in batch["groups"].items()}
                    sync = ddp.world == 1 or micro == train_cfg.grad_accum - 1
                    with contextlib.nullcontext() if sync or ddp_model is None else ddp_model.no_sync():
                        with autocast(dev, train_cfg.precision):
                            preds = wrapped(groups_batch)
                        loss = Vintix.loss(preds, groups_batch) / train_cfg.grad_accum
                        loss.backward()
                    loss_sum += loss.detach()
                    crcs.append(batch["fingerprint"])
                    consumed += train_cfg.batch_size
                if train_cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if ddp.world > 1:
                    dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
                step += 1
                steps_run += 1
                loss_value = float(loss_sum)
                if not math.isfinite(loss_value):
                    raise TrainError(f"loss is {loss_value} at step {step}; lower train.lr or set train.grad_clip")
                dt = time.perf_counter() - t0
                if ddp.main and mf is not None:  # (the main rank holds the metrics file open)
                    rec = {
                        "step": step,
                        "loss": loss_value,
                        "lr": lr,
                        "tokens": step * tokens_per_step,
                        "tokens_per_s": tokens_per_step / dt,
                        "step_s": dt,
                        "elapsed_s": time.perf_counter() - t_start,
                        "batch_crc": crcs,
                    }
                    metrics.append(rec)
                    mf.write(dumps(rec) + "\n")
                    mf.flush()
                    if step % train_cfg.log_every == 0 or step == train_cfg.steps:
                        tps = tokens_per_step * steps_run / (time.perf_counter() - t_start)
                        bar.update(step, loss_value, lr, tps)
                    if step % train_cfg.save_every == 0 or step == train_cfg.steps:
                        save(step)
    finally:
        bar.close()
        del batches
    summary = {"step": step, "out": str(out), "parameters": model.num_parameters(), "model": model}
    if ddp.main and metrics:
        losses = [m["loss"] for m in metrics]
        k = min(50, max(1, len(losses) // 2))
        summary.update(
            first_loss=sum(losses[:k]) / k,
            last_loss=sum(losses[-k:]) / k,
            window=k,
            checkpoint=str(hub.checkpoint_dir(out)),
        )
    if ddp.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary
