"""Per-env-step latency of the evaluation agent: KV cache vs re-encoding the whole window (the released code's way).

For each context length the agent's context is first filled to ``context - 1`` tokens (a prefill of random
tokens: latency does not depend on the weights or the data), then ``act`` is timed for steps that keep the
window full (so the cached path slides, as in a long evaluation). Both decoders run in the same process on the
same model; the figure that matters is the ratio, measured in the same run.

    python benchmarks/inference_latency.py                          # tiny preset, CPU, contexts 1k/4k/8k
    python benchmarks/inference_latency.py --preset paper --device cuda --dtype bf16   # on a GPU (goal >= 5x at 8k)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from vintix_model.inference.agent import ICRLAgent, TaskContext
from vintix_model.model.config import preset
from vintix_model.model.groups import GroupSpec
from vintix_model.model.vintix import Vintix

OBS, ACT = 6, 3  # an Industrial Benchmark group: the backbone dominates the cost


def build(name: str, device: str, dtype: torch.dtype) -> Vintix:
    cfg, _ = preset(name)
    torch.manual_seed(0)
    model = Vintix(cfg, {"ib": GroupSpec("ib", OBS, ACT)}).to(device=device, dtype=dtype).eval()
    return model


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(agent: ICRLAgent, context: int, steps: int, batch: int, device: str) -> list[float]:
    rng = np.random.default_rng(0)
    ctx = TaskContext("ib", "ib", np.zeros(OBS, np.float32), np.ones(OBS, np.float32), 1.0)
    agent.reset(ctx)
    n = context - 1
    first = np.zeros((batch, n), bool)
    first[:, ::250] = True
    agent.prefill(
        rng.normal(size=(batch, n, OBS)),
        rng.uniform(-1, 1, size=(batch, n, ACT)),
        rng.normal(size=(batch, n)),
        first,
        chunk=min(context // 2, 4096),
    )
    times = []
    for _ in range(steps + 1):  # the first step warms up kernels and the mask cache
        obs, r = rng.normal(size=(batch, OBS)), rng.normal(size=batch)
        sync(device)
        t0 = time.perf_counter()
        agent.act(obs, r, np.zeros(batch, bool))
        sync(device)
        times.append(time.perf_counter() - t0)
    return times[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--contexts", default="1024,4096,8192")
    ap.add_argument("--batch", type=int, default=1, help="independent contexts stepped together (envs)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps with the KV cache")
    ap.add_argument("--reencode-steps", type=int, default=5, help="timed steps re-encoding the window (slow)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads on CPU (default: torch's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    model = build(args.preset, args.device, dtype)
    backend = (
        "flash-attn"
        if args.device.startswith("cuda")
        and dtype != torch.float32
        and __import__("vintix_model.inference.kv_cache", fromlist=["x"]).flash_attn_with_kvcache is not None
        else "SDPA"
    )
    rows = []
    for context in (int(c) for c in args.contexts.split(",")):
        cached = ICRLAgent(model, batch=args.batch, window=context, use_cache=True, device=args.device, dtype=dtype)
        full = ICRLAgent(model, batch=args.batch, window=context, use_cache=False, device=args.device, dtype=dtype)
        with torch.inference_mode():
            tc = time_steps(cached, context, args.steps, args.batch, args.device)
            tf = time_steps(full, context, args.reencode_steps, args.batch, args.device)
        mc, mf = statistics.median(tc), statistics.median(tf)
        rows.append(
            {
                "context": context,
                "cached_ms": mc * 1e3,
                "reencode_ms": mf * 1e3,
                "speedup": mf / mc,
                "cached_steps": len(tc),
                "reencode_steps": len(tf),
            }
        )
        del cached, full
    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} thread(s)"
    )
    head = (
        f"Vintix {args.preset} ({model.num_parameters():,} parameters), {args.dtype}, batch {args.batch}, "
        f"{device}, attention {backend}; median per env step"
    )
    if args.json:
        print(json.dumps({"config": vars(args), "device": device, "rows": rows}, indent=2))
        return
    print(head)
    print(f"{'context':>8} {'KV cache (ms)':>14} {'re-encode (ms)':>15} {'speed-up':>9}")
    for r in rows:
        print(f"{r['context']:>8,} {r['cached_ms']:>14.2f} {r['reencode_ms']:>15.2f} {r['speedup']:>8.1f}x")


if __name__ == "__main__":
    main()
