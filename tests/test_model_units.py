"""vintix_model pieces without datasets: the paper's parameter count, groups, ALiBi attention against a reference,
incremental decoding, padding, configs, the schedule, the optimizer groups, the window index and order,
gradient accumulation, save/load and the atomic checkpoint."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from vintix_model.data.sampler import WindowOrder, task_windows
from vintix_model.model.checkpoint import CheckpointError, atomic_checkpoint, checkpoint_dir
from vintix_model.model.config import ConfigError, ModelConfig, TrainConfig, parse_set, resolve
from vintix_model.model.groups import GroupSpec, group_name, groups_of, task_set
from vintix_model.model.layers import alibi_bias, alibi_slopes, attention, flash_attn_func
from vintix_model.model.vintix import GroupBatch, Vintix
from vintix_model.train.run import lr_at, param_groups

SMALL = ModelConfig(obs_emb=15, act_emb=15, rew_emb=2, n_layer=2, n_head=4, d_mlp=64, context=32)
GROUPS = {"ib": GroupSpec("ib", 6, 3), "mw": GroupSpec("mw", 39, 4)}


def run_model_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vintix_model.cli", *args], capture_output=True, text=True, timeout=300
    )


def random_batch(gen: torch.Generator, sizes: dict[str, int], T: int, groups=GROUPS) -> dict[str, GroupBatch]:
    out = {}
    for name, n in sizes.items():
        g = groups[name]
        first = torch.rand(n, T, generator=gen) < 0.1
        first[:, 0] = True
        out[name] = GroupBatch(
            torch.randn(n, T, g.obs_dim, generator=gen),
            torch.rand(n, T, g.act_dim, generator=gen) * 2 - 1,
            torch.randn(n, T, generator=gen),
            first,
            torch.rand(n, T, g.act_dim, generator=gen) * 2 - 1,
        )
    return out


def test_describe_paper_preset_is_the_papers_332_100_768_parameters():
    proc = run_model_cli("describe", "--preset", "paper", "--tasks", "paper", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert (d["total"], d["tasks"], d["groups"]) == (332_100_768, 87, 21)
    assert d["backbone"] == 20 * d["per_block"] + d["final_norm"] == 251_931_648
    assert d["per_block"] == (1024 * 3072 + 3072) + (1024 * 1024 + 1024) + 2 * 2 * 64 + 2 * 2 * 1024 + (
        1024 * 4096 + 4096
    ) + (4096 * 1024 + 1024)
    assert d["total"] == d["backbone"] + d["encoders"] + d["heads"] + d["padding"] and d["padding"] == 513
    ib = next(r for r in d["by_group"] if r["group"] == "industrial-benchmark-6x3")
    assert (
        ib["tasks"] == 16
        and ib["encoder"]
        == (6 * 511 + 511 + 2 * 511 + 511 * 511 + 511 + 2 * 511)
        + (3 * 511 + 511 + 2 * 511 + 511 * 511 + 511 + 2 * 511)
        + 4
    )
    assert ib["head"] == 3 * (1024 * 1024 + 1024) + 1024 * 3 + 3
    human = run_model_cli("describe", "--preset", "paper", "--tasks", "paper")
    assert "332,100,768" in human.stdout and "mujoco-ant-27x8" in human.stdout


def test_groups_follow_the_registry_rule():
    paper = task_set("paper")
    groups = groups_of(paper)
    assert len(paper) == 87 and len(groups) == 21
    by_task = {t.task: t.group for t in paper}
    assert by_task["HalfCheetah-v5"] != by_task["Walker2d-v5"]  # same 17/6 dims, different bodies
    assert {by_task[f"industrial-benchmark-{p}-v1"] for p in range(0, 80, 5)} == {"industrial-benchmark-6x3"}
    assert len({t.group for t in paper if t.domain == "meta-world"}) == 1
    assert (
        by_task["Ant-v5"] == "mujoco-ant-27x8" and groups["mujoco-humanoid-376x17"].obs_dim == 376
    )  # gymnasium v4 dims
    assert (
        group_name("industrial-benchmark", 6, 3, "industrial-benchmark-90-v1") == "industrial-benchmark-6x3"
    )  # held out
    assert group_name("my-domain", 5, 2, "not-a-registry-task") == "my-domain-5x2"
    assert len(groups_of(task_set("all"))) == 22  # + Hand-Over's 398/40, a held-out task with dims no training task has


def reference_attention(q, k, v, slopes):
    """softmax(q k^T / sqrt(d) - slope * (i - j), causal, bottom-right aligned) v, in float64."""
    q, k, v = (t.double().transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
    Tq, Tk = q.shape[2], k.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    i = torch.arange(Tk - Tq, Tk)[:, None]
    j = torch.arange(Tk)[None, :]
    scores = scores - slopes.double()[None, :, None, None] * (i - j)
    scores = scores.masked_fill(j > i, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


@pytest.mark.parametrize("heads,q_len,k_len", [(4, 17, 17), (6, 5, 23), (16, 1, 40)])
def test_sdpa_attention_matches_a_reference_alibi_attention(heads, q_len, k_len):
    gen = torch.Generator().manual_seed(heads)
    q = torch.randn(2, q_len, heads, 8, generator=gen)
    k, v = torch.randn(2, k_len, heads, 8, generator=gen), torch.randn(2, k_len, heads, 8, generator=gen)
    slopes = torch.tensor(alibi_slopes(heads))
    got = attention(q, k, v, slopes, backend="sdpa")
    torch.testing.assert_close(got.double(), reference_attention(q, k, v, slopes), atol=2e-5, rtol=1e-5)
    if flash_attn_func is not None and torch.cuda.is_available():  # the flash path, whenever a GPU is present
        qc, kc, vc = (t.cuda().bfloat16() for t in (q, k, v))
        flash = attention(qc, kc, vc, slopes.cuda(), backend="flash").float().cpu()
        sdpa = attention(qc, kc, vc, slopes.cuda(), backend="sdpa").float().cpu()
        torch.testing.assert_close(flash, sdpa, atol=2e-2, rtol=2e-2)


def test_alibi_slopes_and_bias():
    assert alibi_slopes(16) == pytest.approx([2 ** (-0.5 * (i + 1)) for i in range(16)])
    assert alibi_slopes(8) == pytest.approx([2 ** -(i + 1) for i in range(8)])
    assert len(alibi_slopes(6)) == 6 and alibi_slopes(6)[:4] == pytest.approx(alibi_slopes(4))
    b = alibi_bias(torch.tensor([0.5]), 2, 4)
    assert b.shape == (1, 1, 2, 4)
    assert b[0, 0].tolist() == [[-1.0, -0.5, 0.0, float("-inf")], [-1.5, -1.0, -0.5, 0.0]]


def test_incremental_decoding_with_past_keys_equals_the_full_forward():
    torch.manual_seed(0)
    model = Vintix(SMALL, GROUPS).eval()
    b = random_batch(torch.Generator().manual_seed(1), {"ib": 2}, 12)["ib"]
    x = model.embed("ib", b.obs, b.prev_action, b.prev_reward, b.first)
    with torch.no_grad():
        full, _ = model.transform(x)
        past, steps = None, []
        for t in range(12):
            h, past = model.transform(x[:, t : t + 1], past, use_cache=True)
            steps.append(h)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    assert past[0][0].shape == (2, 12, SMALL.n_head, SMALL.d_model // SMALL.n_head)


def test_padding_vectors_replace_previous_action_and_reward_at_episode_starts():
    torch.manual_seed(0)
    model = Vintix(SMALL, GROUPS).eval()
    b = random_batch(torch.Generator().manual_seed(2), {"ib": 1}, 6)["ib"]
    b.first[:] = False
    b.first[0, 3] = True
    tok = model.embed("ib", b.obs, b.prev_action, b.prev_reward, b.first)
    changed = b.prev_action.clone()
    changed[0, 3] += 5.0
    changed[0, 4] += 5.0
    tok2 = model.embed("ib", b.obs, changed, b.prev_reward, b.first)
    a = slice(SMALL.obs_emb, SMALL.obs_emb + SMALL.act_emb)
    assert torch.equal(tok[0, 3], tok2[0, 3]) and torch.equal(tok[0, 3, a], model.pad_action.detach())
    assert not torch.equal(tok[0, 4], tok2[0, 4])
    assert torch.equal(tok[0, 3, SMALL.obs_emb + SMALL.act_emb :], model.pad_reward.detach())


def test_every_parameter_gets_a_gradient_even_for_groups_absent_from_the_batch():
    torch.manual_seed(0)
    model = Vintix(SMALL, GROUPS)
    batch = random_batch(torch.Generator().manual_seed(3), {"ib": 2}, 8)
    Vintix.loss(model(batch), batch).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.heads["mw"].net[0].weight.grad.abs().sum() == 0  # present, and zero


def test_gradient_accumulation_is_scaled_like_one_big_batch():
    torch.manual_seed(0)
    model = Vintix(SMALL, GROUPS)
    batch = random_batch(torch.Generator().manual_seed(4), {"ib": 4, "mw": 4}, 8)
    Vintix.loss(model(batch), batch).backward()
    big = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for half in (slice(0, 2), slice(2, 4)):
        part = {
            g: GroupBatch(b.obs[half], b.prev_action[half], b.prev_reward[half], b.first[half], b.target[half])
            for g, b in batch.items()
        }
        (Vintix.loss(model(part), part) / 2).backward()
    for p, g in zip(model.parameters(), big):
        torch.testing.assert_close(p.grad, g, atol=1e-6, rtol=1e-4)


def test_configs_presets_overrides_and_errors(tmp_path):
    m, t = resolve("paper")
    assert (m.d_model, m.n_layer, m.n_head, m.d_mlp, m.context) == (1024, 20, 16, 4096, 8192)
    assert (t.lr, t.betas, t.weight_decay, t.precision) == (3e-4, (0.9, 0.99), 0.1, "auto")
    m, t = resolve(
        "tiny", sets=["model.n_layer=3", "train.lr=2e-3", "train.betas=[0.9, 0.95]", "train.grad_clip=null"], steps=7
    )
    assert (m.n_layer, t.lr, t.betas, t.grad_clip, t.steps) == (3, 2e-3, (0.9, 0.95), None, 7)
    yml = tmp_path / "c.yaml"
    yml.write_text("model:\n  context: 128\ntrain:\n  mixing: proportional\n")
    m, t = resolve("tiny", yml)
    assert (m.context, t.mixing) == (128, "proportional")
    for bad in (
        ["model.nope=1"],
        ["train.lr=abc"],
        ["model.n_layer=2.5"],
        ["lr=1"],
        ["train.mixing=sometimes"],
        ["model.n_head=5"],
    ):
        with pytest.raises(ConfigError):
            resolve("tiny", sets=bad)
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve("huge")
    assert parse_set(["train.seed=3"]) == {"train": {"seed": 3}}


def test_learning_rate_warms_up_linearly_then_follows_a_cosine():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert [lr_at(s, cfg) for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert lr_at(9, cfg) == pytest.approx(1.0) and lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(100, cfg) == pytest.approx(0.1)
    assert TrainConfig(steps=1000).warmup == 5  # the released code's 0.5%


def test_weight_decay_applies_to_linear_weights_only():
    model = Vintix(SMALL, GROUPS)
    decay, no_decay = param_groups(model, 0.1)
    linear = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    assert {id(p) for p in decay["params"]} == linear and decay["weight_decay"] == 0.1
    names = {id(p): n for n, p in model.named_parameters()}
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert {
        "pad_action",
        "pad_reward",
        "backbone.ln_f.weight",
        "backbone.blocks.0.attn.q_norm.weight",
        "backbone.blocks.0.attn.qkv.bias",
    } <= skipped
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_windows_stay_in_one_history_and_keep_every_kth_episode():
    # 2 histories x 10 episodes x 5 steps
    history = np.repeat([0, 1], 50)
    episode = np.tile(np.repeat(np.arange(10), 5), 2)
    w = task_windows(history, episode, context=9, stride=3, sparsity=1)
    for s in w.starts:
        rows = w.kept[s : s + 10]
        assert len(rows) == 10 and len(set(history[rows])) == 1 and np.all(np.diff(rows) == 1)
    assert len(w.starts) == 2 * len(range(0, 50 - 9, 3))
    w2 = task_windows(history, episode, context=9, stride=1, sparsity=2)
    assert set(episode[w2.kept]) == {0, 2, 4, 6, 8} and len(w2.kept) == 50
    for s in w2.starts:
        assert len(set(history[w2.kept[s : s + 10]])) == 1
    assert len(task_windows(history, episode, context=50, stride=1, sparsity=1).starts) == 0  # 51 > 50 per history


def original_window_starts(step_num: np.ndarray, context: int, stride: int, ep_sparsity: int) -> list[int]:
    """The released loader's window starts over one history (FoundationMapDataset.__precompute_splits, dunnolab/vintix):
    the rows of every ep_sparsity-th episode, then range(0, len(rows) - (context + 1), stride) into them."""
    transes: list[list[int]] = []
    for i, s in enumerate(step_num):
        if s == 0:
            transes.append([])
        transes[-1].append(i)
    kept = np.hstack(transes[::ep_sparsity])
    return [int(kept[i]) for i in range(0, kept.shape[0] - (context + 1), stride)]


def test_window_starts_are_the_released_loaders():
    rng = np.random.default_rng(0)
    for _ in range(40):
        lengths = rng.integers(1, 30, rng.integers(2, 12))
        step = np.concatenate([np.arange(k) for k in lengths])
        episode = np.repeat(np.arange(len(lengths)), lengths)
        context, stride, sparsity = int(rng.integers(1, 40)), int(rng.integers(1, 9)), int(rng.integers(1, 4))
        history = np.r_[np.zeros(len(step), int), np.ones(len(step), int)]  # two equal histories back to back
        w = task_windows(history, np.r_[episode, episode], context, stride, sparsity)
        want = original_window_starts(step, context, stride, sparsity)
        got = [int(w.kept[s]) for s in w.starts]
        assert got == want + [len(step) + x for x in want], (lengths.tolist(), context, stride, sparsity)
    # where (L - context - 1) is a multiple of the stride the released loader stops one start short, and so do we
    assert len(task_windows(np.zeros(21, int), np.zeros(21, int), context=8, stride=4, sparsity=1).starts) == 3


def test_window_order_is_a_pure_function_of_seed_and_epoch_and_shards_by_rank():
    counts = [50, 5, 20]
    a, b = WindowOrder(counts, seed=7, mixing="uniform"), WindowOrder(counts, seed=7, mixing="uniform")
    assert np.array_equal(a.epoch(3), b.epoch(3)) and not np.array_equal(a.epoch(0), a.epoch(1))
    assert not np.array_equal(a.epoch(0), WindowOrder(counts, seed=8).epoch(0))
    tasks = np.array([a.locate(int(w))[0] for e in range(20) for w in a.epoch(e)])
    share = np.bincount(tasks, minlength=3) / len(tasks)
    assert np.all(np.abs(share - 1 / 3) < 0.03), share  # uniform over tasks, whatever their sizes
    prop = WindowOrder(counts, seed=7, mixing="proportional")
    assert sorted(prop.epoch(0)) == list(range(75))
    ranks = [WindowOrder(counts, 7, "proportional", rank=r, world=2) for r in range(2)]
    e0 = [r.epoch(0) for r in ranks]
    assert len(e0[0]) == len(e0[1]) == 37 and not set(e0[0]) & set(e0[1])
    assert np.array_equal(np.sort(np.r_[e0[0], e0[1]]), np.sort(prop.epoch(0)[:74]))
    stream = a.items(0)
    first = [next(stream) for _ in range(200)]  # crosses epoch 0 -> 1 -> 2
    assert first == [a.item(i) for i in range(200)]
    resumed = b.items(b.load_state_dict(a.state_dict(consumed=123)))
    assert [next(resumed) for _ in range(50)] == first[123:173]
    with pytest.raises(ValueError, match="another stream"):
        WindowOrder([50, 5, 21], seed=7).load_state_dict(a.state_dict(123))


def test_save_and_load_give_identical_outputs_and_mismatches_are_refused(tmp_path):
    torch.manual_seed(0)
    model = Vintix(SMALL, GROUPS, {"t": {"group": "ib", "obs_mean": [0.0] * 6, "obs_std": [1.0] * 6}}).eval()
    model.save_pretrained(tmp_path / "ck", {"step": 3})
    again = Vintix.from_pretrained(tmp_path / "ck")
    batch = random_batch(torch.Generator().manual_seed(5), {"ib": 2, "mw": 1}, 16)
    with torch.no_grad():
        p1, p2 = model(batch), again(batch)
    assert all(torch.equal(p1[g], p2[g]) for g in p1)
    assert again.tasks == model.tasks and again.metadata["step"] == 3
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    cfg["model"]["n_layer"] = 3
    (tmp_path / "ck" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match"):
        Vintix.from_pretrained(tmp_path / "ck")
    with pytest.raises(CheckpointError):
        Vintix.from_pretrained(tmp_path / "nothing-here")


def test_a_crash_mid_save_leaves_the_previous_checkpoint_intact(tmp_path):
    torch.manual_seed(0)
    model = Vintix(SMALL, GROUPS)
    atomic_checkpoint(tmp_path, "step-0000001", lambda d: model.save_pretrained(d))
    before = {p.name: p.read_bytes() for p in checkpoint_dir(tmp_path).iterdir()}

    def crash(folder):
        model.save_pretrained(folder)
        (folder / "model.safetensors").write_bytes(b"half written")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_checkpoint(tmp_path, "step-0000002", crash)
    assert checkpoint_dir(tmp_path).name == "step-0000001"
    assert {p.name: p.read_bytes() for p in checkpoint_dir(tmp_path).iterdir()} == before
    assert isinstance(Vintix.from_pretrained(tmp_path), Vintix)
