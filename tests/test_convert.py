"""`vintix-model convert`: a released Vintix checkpoint (dunnolab/vintix's layout) into ours, without any network.

A small model is written the way the original's ``Vintix.save_model`` writes one: its state_dict keys and module
shapes, the release's group names, a ``config.json`` with every field of the original's ``TrainConfig`` and a
``metadata.json`` with the fields its training writes per task. The reference outputs are computed here from those
original-layout tensors alone, with the original's math (its encoders, its blocks, its ALiBi slopes formula, its
``(obs - mean) / (std + 1e-6)``), not through ``vintix_model``; the converted model must match them within 1e-5.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import one_line_error, run_model_cli

E_OBS, E_ACT, E_REW, DEPTH, HEADS, MLP, CONTEXT = 15, 15, 2, 2, 4, 48, 64
WIDTH = E_OBS + E_ACT + E_REW
# task -> (release group, obs dim, act dim, reward scale), in the release's names (Meta-World v2, MuJoCo v4)
TASKS = {
    "industrial-benchmark-50-v1": ("industrial_benchmark_overall", 6, 3, 1),
    "industrial-benchmark-60-v1": ("industrial_benchmark_overall", 6, 3, 1),
    "reach-v2": ("metaworld", 39, 4, 1),
    "push-v2": ("metaworld", 39, 4, 1),
    "HalfCheetah-v4": ("halfcheetah_v4", 17, 6, 0.1),
    "shadowhanddoorcloseinward": ("bidex_obs_417_acs_52_1", 417, 52, 1),
    "shadowhandpen": ("bidex_obs_417_acs_52_2", 417, 52, 1),
}
EXPECTED_GROUPS = {
    "industrial_benchmark_overall": "industrial-benchmark-6x3",
    "metaworld": "meta-world-39x4",
    "halfcheetah_v4": "mujoco-halfcheetah-17x6",
    "bidex_obs_417_acs_52_1": "bi-dexhands-door-417x52",
    "bidex_obs_417_acs_52_2": "bi-dexhands-417x52",
}


def original_config(**changes) -> dict:
    """Every field of the original's TrainConfig (what asdict writes into config.json), at a small size."""
    cfg = {
        "data_dir": "path/to/dataset/folder",
        "context_len": CONTEXT,
        "trajectory_sparsity": 257,
        "preload": False,
        "last_frac": None,
        "action_emb_dim": E_ACT,
        "observation_emb_dim": E_OBS,
        "reward_emb_dim": E_REW,
        "hidden_dim": WIDTH,
        "transformer_depth": DEPTH,
        "transformer_heads": HEADS,
        "attn_dropout": 0.0,
        "residual_dropout": 0.0,
        "normalize_qk": True,
        "bias": True,
        "parallel_residual": False,
        "shared_attention_norm": False,
        "norm_class": "LayerNorm",
        "mlp_class": "GptNeoxMLP",
        "intermediate_size": MLP,
        "inner_ep_pos_enc": False,
        "norm_acs": False,
        "norm_obs": True,
        "optimizer": "Adam",
        "lr": 3e-4,
        "betas": [0.9, 0.99],
        "weight_decay": 0.1,
        "precision": "bf16",
        "clip_grad": None,
        "grad_accum_steps": 2,
        "warmup_ratio": 0.005,
        "local_rank": 0,
        "epochs": 150,
        "batch_size": 8,
        "save_every": 2,
        "save_dir": "/path/to/savedir/Vintix",
        "stats_path": "vintix/stats.json",
        "load_ckpt": None,
        "start_epoch": 0,
        "seed": 5,
        "dataset_config_paths": ["vintix/data/configs/metaworld_config.yaml", "vintix/data/configs/ib_config.yaml"],
        "project": "Vintix",
        "group": "default",
        "name": "Vintix",
    }
    cfg.update(changes)
    return cfg


def original_metadata(rng: np.random.Generator) -> dict:
    meta = {}
    for task, (group, obs, act, scale) in TASKS.items():
        std = rng.uniform(0.05, 3.0, obs)
        std[: max(1, obs // 8)] = (
            0.0  # constant features (Meta-World's zero padding): where the two normalizations part
        )
        std[-1] = 4e-7
        meta[task] = {
            "observation_shape": {"proprio": [obs]},
            "action_dim": act,
            "action_type": "continuous",
            "group_name": group,
            "reward_scale": scale,
            "obs_mean": rng.normal(0, 2, obs).tolist(),
            "obs_std": std.tolist(),
            "acs_mean": rng.normal(0, 0.1, act).tolist(),
            "acs_std": rng.uniform(0.2, 1, act).tolist(),
        }
    return meta


def original_state_dict(meta: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Tensors under the original's module names (IndividualTaskEncoderNew, Transformer, IndividualTaskHeadNew)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def linear(name, d_in, d_out):
        sd[f"{name}.weight"] = torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in)
        sd[f"{name}.bias"] = 0.1 * torch.randn(d_out, generator=g)

    def norm(name, d):
        sd[f"{name}.weight"] = 1 + 0.2 * torch.randn(d, generator=g)
        sd[f"{name}.bias"] = 0.1 * torch.randn(d, generator=g)

    groups = {}
    for info in meta.values():
        groups.setdefault(info["group_name"], (info["observation_shape"]["proprio"][0], info["action_dim"]))
    for grp, (obs, act) in groups.items():
        for kind, d_in, emb in (("obs_encoders", obs, E_OBS), ("acs_encoders", act, E_ACT)):
            p = f"encoder.{kind}.{grp}.layers"
            linear(f"{p}.0", d_in, emb), norm(f"{p}.2", emb), linear(f"{p}.3", emb, emb), norm(f"{p}.5", emb)
        linear(f"encoder.rews_encoders.{grp}.layers.0", 1, E_REW)
    sd["encoder.prev_acs_padding"] = torch.randn(1, E_ACT, generator=g)
    sd["encoder.prev_rew_padding"] = torch.randn(1, E_REW, generator=g)
    for i in range(DEPTH):
        b = f"transformer.blocks.{i}"
        norm(f"{b}.norm1", WIDTH), norm(f"{b}.norm2", WIDTH)
        linear(f"{b}.attention.in_proj", WIDTH, 3 * WIDTH), linear(f"{b}.attention.out_proj", WIDTH, WIDTH)
        norm(f"{b}.attention.q_norm", WIDTH // HEADS), norm(f"{b}.attention.k_norm", WIDTH // HEADS)
        linear(f"{b}.mlp.fc", WIDTH, MLP), linear(f"{b}.mlp.proj", MLP, WIDTH)
    norm("transformer.ln_f", WIDTH)
    for grp, (_, act) in groups.items():
        p = f"head.acs_decoders.{grp}.layers"
        linear(f"{p}.0", WIDTH, WIDTH), linear(f"{p}.2", WIDTH, WIDTH), linear(f"{p}.4", WIDTH, WIDTH)
        linear(f"{p}.6", WIDTH, act)
    return sd


def write_original(
    folder: Path, config: dict | None = None, meta: dict | None = None, state: dict | None = None
) -> Path:
    """A folder as ``Vintix.save_model`` writes it: model.pth (torch.save of the state_dict), metadata.json, config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = meta if meta is not None else original_metadata(np.random.default_rng(0))
    torch.save(state if state is not None else original_state_dict(meta), folder / "model.pth")
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "config.json").write_text(json.dumps(config if config is not None else original_config()))
    return folder


def original_slopes(n: int) -> list[float]:
    """The original's get_alibi_slopes (vintix/nn/nn.py), as written there."""

    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    c = 2 ** math.floor(math.log2(n))
    return power_of_2(c) + original_slopes(2 * c)[0::2][: n - c]


def original_forward(sd, info, obs, prev_action, prev_reward, step_num) -> torch.Tensor:
    """The original's Vintix.forward for one trajectory, from its state_dict: actions (T, act_dim)."""
    grp, lrelu = info["group_name"], (lambda x: F.leaky_relu(x, 0.01))
    lin = lambda x, n: F.linear(x, sd[f"{n}.weight"], sd[f"{n}.bias"])  # noqa: E731
    ln = lambda x, n: F.layer_norm(x, x.shape[-1:], sd[f"{n}.weight"], sd[f"{n}.bias"], 1e-5)  # noqa: E731
    obs = (obs - torch.tensor(info["obs_mean"], dtype=torch.float32)) / (
        torch.tensor(info["obs_std"], dtype=torch.float32) + 1e-6
    )

    def enc(x, p):
        return ln(lrelu(lin(ln(lrelu(lin(x, f"{p}.0")), f"{p}.2"), f"{p}.3")), f"{p}.5")

    o = enc(obs, f"encoder.obs_encoders.{grp}.layers")
    a = enc(prev_action, f"encoder.acs_encoders.{grp}.layers")
    r = lrelu(lin((info["reward_scale"] * prev_reward)[:, None], f"encoder.rews_encoders.{grp}.layers.0"))
    first = step_num == 0
    a[first], r[first] = sd["encoder.prev_acs_padding"][0], sd["encoder.prev_rew_padding"][0]
    x = torch.cat([o, a, r], 1)
    T, hd = x.shape[0], WIDTH // HEADS
    pos = torch.arange(T)
    dist = (pos[:, None] - pos[None, :]).float()
    bias = -torch.tensor(original_slopes(HEADS))[:, None, None] * dist
    bias = bias.masked_fill(dist < 0, float("-inf"))
    for i in range(DEPTH):
        b = f"transformer.blocks.{i}"
        q, k, v = lin(ln(x, f"{b}.norm1"), f"{b}.attention.in_proj").reshape(T, 3, HEADS, hd).unbind(1)
        q, k = ln(q, f"{b}.attention.q_norm"), ln(k, f"{b}.attention.k_norm")
        att = torch.softmax(torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + bias, -1)
        x = x + lin(torch.einsum("hqk,khd->qhd", att, v).reshape(T, WIDTH), f"{b}.attention.out_proj")
        x = x + lin(F.gelu(lin(ln(x, f"{b}.norm2"), f"{b}.mlp.fc")), f"{b}.mlp.proj")
    h = ln(x, "transformer.ln_f")
    p = f"head.acs_decoders.{grp}.layers"
    return lin(lrelu(lin(lrelu(lin(lrelu(lin(h, f"{p}.0")), f"{p}.2")), f"{p}.4")), f"{p}.6")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    src = write_original(root / "Vintix")
    out = root / "converted"
    proc = run_model_cli("convert", str(src), "--out", str(out), check=True)
    return src, out, proc


def test_converted_outputs_equal_the_original_weights_with_the_original_normalization(converted):
    from vintix_model.inference.agent import ICRLAgent, TaskContext
    from vintix_model.model.vintix import GroupBatch, Vintix

    src, out, proc = converted
    assert "tensors mapped (strict load)" in proc.stderr, proc.stderr
    sd = torch.load(src / "model.pth", map_location="cpu", weights_only=True)
    meta = json.loads((src / "metadata.json").read_text())
    model = Vintix.from_pretrained(out)  # a strict load of the converted folder
    assert model.config.obs_norm == "original" and len(model.state_dict()) == len(sd)
    saved = json.loads((out / "metadata.json").read_text())
    rec = saved["converted_from"]
    assert rec["group_map"] == EXPECTED_GROUPS and rec["keys"] == len(sd)
    assert rec["task_map"] == {
        "industrial-benchmark-50-v1": "industrial-benchmark-50-v1",
        "industrial-benchmark-60-v1": "industrial-benchmark-60-v1",
        "reach-v2": "reach-v3",
        "push-v2": "push-v3",
        "HalfCheetah-v4": "HalfCheetah-v5",
        "shadowhanddoorcloseinward": "shadowhanddoorcloseinward",
        "shadowhandpen": "shadowhandpen",
    }
    import hashlib

    assert rec["sha256"]["model.pth"] == hashlib.sha256((src / "model.pth").read_bytes()).hexdigest()
    assert saved["tasks"]["HalfCheetah-v5"]["env_id"] == "HalfCheetah-v4"  # evaluated on the v4 layout it learned
    card = (out / "README.md").read_text()
    assert "Converted from the original release" in card and rec["sha256"]["config.json"] in card

    rng = np.random.default_rng(1)
    torch.set_num_threads(1)
    worst = 0.0
    for orig_task, our_task in rec["task_map"].items():
        info, T = meta[orig_task], 40
        obs = torch.tensor(
            np.asarray(info["obs_mean"]) + rng.normal(0, 1, (T, len(info["obs_mean"]))), dtype=torch.float32
        )
        step = torch.tensor(np.r_[np.arange(17), np.arange(T - 17)])  # an episode boundary inside the context
        prev_a = torch.tensor(rng.normal(0, 1, (T, info["action_dim"])), dtype=torch.float32)
        prev_r = torch.tensor(rng.normal(0, 1, T), dtype=torch.float32)
        want = original_forward(sd, info, obs, prev_a, prev_r, step)
        t = model.tasks[our_task]
        batch = GroupBatch(
            model.normalize_obs(our_task, obs)[None],
            prev_a[None],
            (prev_r * t["reward_scale"])[None],
            (step == 0)[None],
        )
        with torch.no_grad():
            got = model({t["group"]: batch})[t["group"]][0]
        worst = max(worst, float((got - want).abs().max()))
        assert torch.allclose(got, want, atol=1e-5, rtol=0), (orig_task, float((got - want).abs().max()))
        # the same steps through the evaluation agent (KV cache, one token per step), which eval uses
        agent = ICRLAgent(model, batch=1, precision="fp32")
        agent.reset(
            TaskContext(
                our_task,
                t["group"],
                np.asarray(t["obs_mean"], np.float32),
                np.asarray(t["obs_std"], np.float32),
                t["reward_scale"],
            )
        )
        acts = []
        for s in range(T):
            acts.append(agent.act(obs[s].numpy(), prev_r[s - 1].item() if s else None, first=bool(step[s] == 0)))
        agent_prev = torch.tensor(np.r_[np.zeros((1, info["action_dim"])), np.asarray(acts)[:-1]], dtype=torch.float32)
        with torch.no_grad():
            want_agent = original_forward(sd, info, obs, agent_prev, torch.cat([torch.zeros(1), prev_r[:-1]]), step)
        assert np.abs(np.asarray(acts) - want_agent.numpy()).max() < 1e-5, orig_task
    print(f"max |converted - original| over {len(rec['task_map'])} tasks: {worst:.3g}")

    # with our own normalization the same weights answer differently: the setting is what makes them agree
    model.config.obs_norm = "vintix"
    info, t = meta["reach-v2"], model.tasks["reach-v3"]
    obs = torch.tensor(np.asarray(info["obs_mean"]) + rng.normal(0, 1, (8, 39)), dtype=torch.float32)
    zero, first = torch.zeros(1, 8, 4), torch.zeros(1, 8, dtype=torch.bool)
    with torch.no_grad():
        ours = model(
            {t["group"]: GroupBatch(model.normalize_obs("reach-v3", obs)[None], zero, torch.zeros(1, 8), first)}
        )
    want = original_forward(sd, info, obs, zero[0], torch.zeros(8), torch.ones(8, dtype=torch.long))
    assert (ours[t["group"]][0] - want).abs().max() > 1e-2


def test_converted_checkpoint_evaluates_on_ib_and_metaworld_v3(converted, tmp_path):
    _, out, _ = converted
    for task in ("industrial-benchmark-50-v1", "reach-v3"):
        proc = run_model_cli(
            "eval",
            str(out),
            "--task",
            task,
            "--episodes",
            "2",
            "--seeds",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / task),
        )
        assert proc.returncode == 0, proc.stderr
        results = json.loads((tmp_path / task / "results.json").read_text())
        assert results["task"] == task and len(results["per_seed"]["returns"][0]) == 2 and not results["held_out"]
        assert results["stats_source"].startswith("checkpoint metadata")


def _refused(tmp_path, name, *fragments, **files) -> None:
    src = write_original(tmp_path / name, **files)
    out = tmp_path / f"{name}-out"
    one_line_error(run_model_cli("convert", str(src), "--out", str(out)), *fragments)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "convert-tmp" in p.name]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    meta = original_metadata(np.random.default_rng(0))
    full = original_state_dict(meta)
    # a folder that is not a checkpoint
    (tmp_path / "empty").mkdir()
    one_line_error(
        run_model_cli("convert", str(tmp_path / "empty"), "--out", str(tmp_path / "o")),
        "not an original-layout Vintix checkpoint",
        "model.pth",
    )
    assert not (tmp_path / "o").exists()
    # a state_dict with a missing key, or an extra one: named
    missing = {k: v for k, v in full.items() if k != "transformer.blocks.1.norm2.weight"}
    _refused(tmp_path, "missing", "missing key 'transformer.blocks.1.norm2.weight'", meta=meta, state=missing)
    extra = {**full, "encoder.trans_ep_pos_emb.weight": torch.zeros(10, WIDTH)}
    _refused(tmp_path, "extra", "unexpected key 'encoder.trans_ep_pos_emb.weight'", meta=meta, state=extra)
    wrong = {**full, "transformer.ln_f.weight": torch.ones(WIDTH + 1)}
    _refused(tmp_path, "shape", "'transformer.ln_f.weight' has shape (33,)", meta=meta, state=wrong)
    # a group the registry cannot map
    alien = {**meta, "my-robot-v0": {**meta["reach-v2"], "group_name": "robot_overall"}}
    _refused(tmp_path, "group", "group 'robot_overall' cannot be mapped", "'my-robot-v0'", meta=alien)
    # configs our model cannot express
    _refused(tmp_path, "posenc", "inner_ep_pos_enc is True", config=original_config(inner_ep_pos_enc=True))
    _refused(tmp_path, "normacs", "norm_acs is True", config=original_config(norm_acs=True))
    # not a state_dict torch.load(weights_only=True) accepts (a pickled object)
    src = write_original(tmp_path / "pickle", meta=meta)
    torch.save({"saved_on": datetime.date(2025, 1, 1)}, src / "model.pth")
    one_line_error(run_model_cli("convert", str(src), "--out", str(tmp_path / "p-out")), "weights_only=True")
    assert not (tmp_path / "p-out").exists()
    # --out taken
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("x")
    one_line_error(
        run_model_cli("convert", str(write_original(tmp_path / "ok", meta=meta)), "--out", str(taken)),
        "not an empty folder",
    )
    assert (taken / "keep.txt").read_text() == "x"
    shutil.rmtree(tmp_path / "ok")


def test_convert_from_a_hub_model_repo_records_repo_commit_and_hashes(tmp_path):
    """The same release pushed to a Hub model repo (the project's test Hub, real HTTP, classic LFS) and converted by
    repo id: snapshot_download pins the commit, which the metadata and card record."""
    from huggingface_hub import HfApi

    from tests.hub_server import HubServer

    src = write_original(tmp_path / "release")
    token, repo = "hf_vintix_test_token", "vintix-test/Vintix"
    with HubServer(tokens={token}) as hub:
        env = {
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": token,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        api = HfApi(endpoint=hub.url, token=token)
        api.create_repo(repo, repo_type="model")
        commit = api.upload_folder(repo_id=repo, repo_type="model", folder_path=str(src)).oid
        out = tmp_path / "converted"
        proc = run_model_cli("convert", repo, "--out", str(out), env=env)
        assert proc.returncode == 0, proc.stderr
        missing = run_model_cli("convert", "vintix-test/NoSuchModel", "--out", str(tmp_path / "none"), env=env)
    one_line_error(missing, "vintix-test/NoSuchModel: cannot download")
    assert not (tmp_path / "none").exists()
    rec = json.loads((out / "metadata.json").read_text())["converted_from"]
    assert rec["repo"] == repo and rec["revision"] == commit and f"at {commit}" in proc.stderr
    import hashlib

    assert rec["sha256"] == {
        n: hashlib.sha256((src / n).read_bytes()).hexdigest() for n in ("model.pth", "config.json", "metadata.json")
    }
    card = (out / "README.md").read_text()
    assert repo in card and commit in card
