"""The causal transformer backbone: pre-norm blocks, QK LayerNorm, ALiBi, GELU MLP.

Attention runs on ``torch.nn.functional.scaled_dot_product_attention`` with the ALiBi bias as an additive mask
everywhere, and on ``flash_attn.flash_attn_func(..., causal=True, alibi_slopes=...)`` when flash-attn is
installed and the tensors are CUDA half precision. Both use the same convention: query ``i`` (counted from the
end of the keys, so a query block may follow cached keys) attends to key ``j <= i`` with bias
``-slope_h * (i - j)``. There is no positional embedding: ALiBi is the only position signal, which is
translation invariant, so a sliding window over a KV cache needs no re-indexing.

Keys and values are laid out ``(batch, time, heads, head_dim)`` (flash-attn's layout); a block's
``past`` is such a ``(k, v)`` pair (concatenated, and returned updated with ``use_cache=True``) or a
``vintix_model.inference.kv_cache.LayerCache``, which appends into preallocated buffers and keeps a sliding window
(what the evaluation agent uses).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vintix_model.model.config import ModelConfig

try:  # optional: pip install "vintix[gpu]"
    from flash_attn import flash_attn_func
except Exception:  # ImportError, or a broken CUDA build
    flash_attn_func = None

KV = tuple[torch.Tensor, torch.Tensor]


def alibi_slopes(n_head: int) -> list[float]:
    """The ALiBi paper's head slopes: a geometric sequence from 2^(-8/n); interleaved for non powers of two."""

    def power_of_two(n: int) -> list[float]:
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_head).is_integer():
        return power_of_two(n_head)
    lower = 2 ** math.floor(math.log2(n_head))
    return power_of_two(lower) + alibi_slopes(2 * lower)[0::2][: n_head - lower]


def alibi_bias(slopes: torch.Tensor, q_len: int, k_len: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(1, heads, q_len, k_len)`` additive mask: ``-slope * (i - j)`` for ``j <= i``, ``-inf`` above the diagonal.

    Queries are the last ``q_len`` of ``k_len`` positions (bottom-right aligned, as flash-attn). The mask is 4-D
    on purpose: with a 3-D mask PyTorch's CPU SDPA falls back to its 2-3x slower math kernel.
    """
    qpos = torch.arange(k_len - q_len, k_len, device=slopes.device)
    kpos = torch.arange(k_len, device=slopes.device)
    dist = (qpos[:, None] - kpos[None, :]).to(torch.float32)
    bias = -slopes.to(torch.float32)[:, None, None] * dist
    bias = bias.masked_fill(dist < 0, float("-inf"))[None]
    return bias.to(dtype) if dtype is not None else bias


def flash_usable(*tensors: torch.Tensor) -> bool:
    return flash_attn_func is not None and all(
        t.is_cuda and t.dtype in (torch.float16, torch.bfloat16) for t in tensors
    )


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor,
    backend: str = "auto",
    bias_cache: dict | None = None,
    dropout: float = 0.0,
) -> torch.Tensor:
    """Causal ALiBi attention; ``q`` ``(B, Tq, H, D)``, ``k``/``v`` ``(B, Tk, H, D)`` -> ``(B, Tq, H, D)``.

    ``bias_cache`` lets the layers of one forward share the SDPA mask (it is only built on the SDPA path).
    """
    use_flash = backend == "flash" or (backend == "auto" and flash_usable(q, k, v))
    if use_flash:
        if not flash_usable(q, k, v):
            raise RuntimeError("attention backend 'flash' needs flash-attn installed and CUDA fp16/bf16 tensors")
        return flash_attn_func(q, k, v, dropout_p=dropout, causal=True, alibi_slopes=slopes.float())
    key = (q.shape[1], k.shape[1], q.dtype, q.device)
    bias = bias_cache.get(key) if bias_cache is not None else None
    if bias is None:
        bias = alibi_bias(slopes, q.shape[1], k.shape[1], q.dtype)
        if bias_cache is not None:
            bias_cache[key] = bias
    y = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=bias, dropout_p=dropout
    )
    return y.transpose(1, 2)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head, self.head_dim = cfg.n_head, d // cfg.n_head
        self.qkv = nn.Linear(d, 3 * d, bias=cfg.bias)
        self.proj = nn.Linear(d, d, bias=cfg.bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.dropout = cfg.dropout
        self.register_buffer("slopes", torch.tensor(alibi_slopes(cfg.n_head)), persistent=False)
        self.backend = "auto"

    def forward(
        self, x: torch.Tensor, past: KV | None = None, use_cache: bool = False, bias_cache: dict | None = None
    ) -> tuple[torch.Tensor, KV | None]:
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).unbind(2)
        q, k = self.q_norm(q).to(v.dtype), self.k_norm(k).to(v.dtype)  # LayerNorm runs in fp32 under autocast
        if past is not None and hasattr(
            past, "attend"
        ):  # a vintix_model.inference.kv_cache.LayerCache: append in place
            y = past.attend(q, k, v, self.slopes, self.backend, bias_cache)
            return self.proj(y.reshape(B, T, d)), None
        if past is not None:
            k, v = torch.cat([past[0], k], 1), torch.cat([past[1], v], 1)
        y = attention(q, k, v, self.slopes, self.backend, bias_cache, self.dropout if self.training else 0.0)
        return self.proj(y.reshape(B, T, d)), ((k, v) if use_cache else None)


class Block(nn.Module):
    """Pre-norm: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``; MLP is Linear, GELU, Linear."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.ln1 = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.fc = nn.Linear(d, cfg.d_mlp, bias=cfg.bias)
        self.fc_out = nn.Linear(cfg.d_mlp, d, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, past=None, use_cache=False, bias_cache=None):
        h, present = self.attn(self.ln1(x), past, use_cache, bias_cache)
        x = x + self.drop(h)
        x = x + self.drop(self.fc_out(F.gelu(self.fc(self.ln2(x)))))
        return x, present


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-NeoX init: N(0, sqrt(2 / 5d)) for Linear weights, 1 / (sqrt(d) * layers) for residual outputs."""
        d, n = self.cfg.d_model, self.cfg.n_layer
        for name, p in self.named_parameters():
            if p.is_meta:
                continue
            if name.endswith(("attn.proj.weight", "fc_out.weight")):
                nn.init.normal_(p, 0.0, 1.0 / (math.sqrt(d) * n))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, math.sqrt(2.0 / (5 * d)))

    def reset_buffers(self, device: str | torch.device = "cpu") -> None:
        """Recompute the (non-persistent) ALiBi slopes, e.g. after building on the meta device and loading weights."""
        for block in self.blocks:
            block.attn.slopes = torch.tensor(alibi_slopes(self.cfg.n_head), device=device)

    def set_attention_backend(self, backend: str) -> None:
        for block in self.blocks:
            block.attn.backend = backend

    def forward(
        self, x: torch.Tensor, past: list[KV] | None = None, use_cache: bool = False
    ) -> tuple[torch.Tensor, list[KV] | None]:
        bias_cache: dict = {}  # one ALiBi mask per forward, shared by every layer
        presents = [] if use_cache else None
        for i, block in enumerate(self.blocks):
            x, present = block(x, past[i] if past is not None else None, use_cache, bias_cache)
            if use_cache:
                presents.append(present)
        return self.ln_f(x), presents
