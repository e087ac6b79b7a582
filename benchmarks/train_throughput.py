"""Training throughput of a preset on this device: tokens/s, model-FLOPs utilization, and the sampler's windows/s
against what the model consumes.

    python benchmarks/train_throughput.py --preset tiny                  # CPU
    python benchmarks/train_throughput.py --preset paper --device cuda   # GPU, bf16 autocast, flash-attn if installed

Model FLOPs per token (PaLM, appendix B; no discount for causal masking, none for recomputation):

    6 N  +  12 L d T

N = weights of the Linear layers one token passes through (every block's qkv, proj, fc, fc_out; its group's
encoders and head; norms and biases are not counted), L layers, d width, T context. The model is timed on
synthetic windows (forward + backward + AdamW step, after warm-up steps); MFU = tokens/s x FLOPs/token / peak,
with the peak from the GPU's datasheet (dense bf16) or, on CPU, measured here with a large fp32 matmul. The
sampler is timed on real data (``--datasets``, else a small Industrial Benchmark collection made on the spot).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

from vintix_model.model.config import resolve
from vintix_model.model.groups import GroupSpec
from vintix_model.model.vintix import GroupBatch, Vintix
from vintix_model.train.run import autocast, param_groups

PEAK_BF16 = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12}


def peak_flops(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_BF16.items():
            if key in name:
                if key == "H100" and "PCIe" in name:
                    value = 756e12
                return value, f"{name} dense bf16 datasheet"
        raise SystemExit(f"unknown GPU {name!r}: pass --peak-tflops")
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    t0, n = time.perf_counter(), 10
    for _ in range(n):
        a @ b
    dt = time.perf_counter() - t0
    return 2 * 2048**3 * n / dt, f"measured fp32 2048^3 matmul, {torch.get_num_threads()} threads"


def matmul_weights(model: Vintix, group: str) -> int:
    linear = lambda m: sum(x.weight.numel() for x in m.modules() if isinstance(x, torch.nn.Linear))  # noqa: E731
    return linear(model.backbone) + linear(model.encoders[group]) + linear(model.heads[group])


def time_model(model, cfg, batch_size, accum, device, precision, steps, warmup) -> float:
    g = model.groups["bench"]
    T = cfg.context
    gen = torch.Generator(device="cpu").manual_seed(0)
    first = torch.zeros(batch_size, T, dtype=torch.bool)
    first[:, ::250] = True
    batch = {
        "bench": GroupBatch(
            torch.randn(batch_size, T, g.obs_dim, generator=gen),
            torch.rand(batch_size, T, g.act_dim, generator=gen),
            torch.randn(batch_size, T, generator=gen),
            first,
            torch.rand(batch_size, T, g.act_dim, generator=gen),
        ).to(device)
    }
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=device.type == "cuda")

    def step():
        for _ in range(accum):
            with autocast(device, precision):
                loss = Vintix.loss(model(batch), batch) / accum
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def sampler_rate(datasets: list[str], context: int, stride: int, batch_size: int, workers: int, batches: int) -> float:
    from vintix_model.data.arrays import prepare
    from vintix_model.data.sampler import WindowDataset, WindowOrder, index_tasks, make_loader

    tasks = prepare(datasets, validate=False)
    windows = index_tasks(tasks, context, stride)
    order = WindowOrder([len(w.starts) for w in windows], 0, "uniform")
    it = iter(make_loader(WindowDataset(tasks, windows, order, context), batch_size, 0, workers))
    next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--set", action="append", default=[], help="SECTION.FIELD=VALUE overrides, as vintix-model train")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--obs-dim", type=int, default=39, help="dims of the benchmark group (default Meta-World's 39/4)")
    ap.add_argument("--act-dim", type=int, default=4)
    ap.add_argument("--datasets", nargs="*", help="datasets for the sampler timing (default: a small IB collection)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the preset's)")
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args()

    model_cfg, train_cfg = resolve(args.preset, sets=args.set)
    device = torch.device(args.device)
    if device.type == "cpu" and train_cfg.cpu_threads:
        torch.set_num_threads(train_cfg.cpu_threads)  # as `vintix-model train` does
    torch.manual_seed(0)
    model = Vintix(model_cfg, {"bench": GroupSpec("bench", args.obs_dim, args.act_dim)}).to(device)
    model.set_attention_backend(train_cfg.attention)
    B, A, T, L, d = train_cfg.batch_size, train_cfg.grad_accum, model_cfg.context, model_cfg.n_layer, model_cfg.d_model
    n = matmul_weights(model, "bench")
    flops_token = 6 * n + 12 * L * d * T
    peak, peak_src = (args.peak_tflops * 1e12, "--peak-tflops") if args.peak_tflops else peak_flops(device)
    dt = time_model(model, model_cfg, B, A, device, train_cfg.precision, args.steps, args.warmup)
    tokens_s = B * A * T / dt
    precision = (
        "bf16 autocast"
        if train_cfg.precision == "bf16" or (train_cfg.precision == "auto" and device.type == "cuda")
        else "fp32"
    )
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
        f"preset {args.preset}, {precision}; {model.num_parameters():,} parameters, N = {n:,} matmul weights per token; "
        f"context {T}, batch {B} x {A} accumulation"
    )
    print(f"model:   {tokens_s:,.0f} tokens/s ({dt:.3f} s per optimizer step, {B * A / dt:,.2f} windows/s)")
    print(f"FLOPs/token = 6N + 12 L d T = 6 x {n:,} + 12 x {L} x {d} x {T} = {flops_token / 1e6:,.2f} MFLOP")
    print(
        f"achieved {tokens_s * flops_token / 1e9:,.1f} GFLOP/s of {peak / 1e9:,.1f} peak ({peak_src}): "
        f"MFU {100 * tokens_s * flops_token / peak:.1f}%"
    )

    workers = train_cfg.num_workers if args.workers is None else args.workers
    with tempfile.TemporaryDirectory() as tmp:
        datasets = args.datasets
        if not datasets:
            folder = os.path.join(tmp, "ib50")
            steps = max(4 * (T + 1), 3000)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "vintix_data.cli",
                    "collect",
                    "industrial-benchmark-50-v1",
                    "--out",
                    folder,
                    "--demonstrator",
                    "zero",
                    "--histories",
                    "2",
                    "--steps",
                    str(steps),
                    "--reference-episodes",
                    "2",
                ],
                check=True,
                capture_output=True,
            )
            datasets = [folder]
        os.environ.setdefault("VINTIX_CACHE", os.path.join(tmp, "cache"))
        rate = sampler_rate(datasets, T, train_cfg.stride, B, workers, batches=max(20, int(50 * 512 / T)))
    print(
        f"sampler: {rate:,.1f} windows/s with {workers} worker(s) = {rate / (B * A / dt):,.1f}x what the model consumes"
    )


if __name__ == "__main__":
    main()
