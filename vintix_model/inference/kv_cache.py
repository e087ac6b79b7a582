"""A sliding-window KV cache for incremental decoding over a batch of independent contexts in lockstep.

Every context of the batch holds the same number of tokens (one per env step, all envs step together), so one
``end`` index serves all rows. Each layer owns preallocated ``(batch, capacity, heads, head_dim)`` buffers
(flash-attn's layout); ``capacity = 2 * window`` by default. A step writes its new keys/values at ``end`` and
attends to the last ``window`` positions as one contiguous slice. When the buffers fill up, the last
``window`` tokens are copied to the front once (every ``capacity - window`` steps: O(1) amortized per step,
no reallocation, no per-step ``torch.cat``).

The window is exact in the attention sense (the newest token sees at most ``window`` tokens, itself included)
and ALiBi is translation invariant, so sliding needs no re-indexing. It is not identical to re-encoding the
last ``window`` tokens from scratch once the window has slid: the kept keys/values were computed when their
tokens still saw older context (the usual streaming approximation). While the context fits, the cached path
equals a full forward over the same tokens (tested).

On CUDA half precision with flash-attn installed, ``flash_attn_with_kvcache`` writes and attends in one kernel
(``window_size`` gives the same sliding window); elsewhere the step runs PyTorch SDPA on the slice.
"""

from __future__ import annotations

import torch

from vintix_model.model.layers import attention, flash_usable

try:  # optional: pip install "vintix[gpu]"
    from flash_attn import flash_attn_with_kvcache
except Exception:
    flash_attn_with_kvcache = None


def slide(buffers: list[torch.Tensor], end: int, keep: int) -> int:
    """Copy the last ``keep`` of the ``end`` filled positions (dim 1) of each buffer to its front; the new ``end``."""
    keep = min(end, keep)
    for buf in buffers:
        buf[:, :keep] = buf[:, end - keep : end].clone()  # the ranges may overlap
    return keep


class LayerCache:
    """One layer's buffers; ``attend`` appends the new keys/values and runs attention (called by SelfAttention)."""

    def __init__(self, owner: KVCache, k: torch.Tensor, v: torch.Tensor):
        self.owner, self.k, self.v = owner, k, v

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        slopes: torch.Tensor,
        backend: str = "auto",
        bias_cache: dict | None = None,
    ) -> torch.Tensor:
        c = self.owner
        n, end = q.shape[1], c.end
        if end + n > c.capacity:
            raise RuntimeError("KVCache.prepare(n) was not called before this step")
        use_flash = backend == "flash" or (
            backend == "auto" and flash_attn_with_kvcache is not None and flash_usable(q, self.k)
        )
        if use_flash:
            if flash_attn_with_kvcache is None or not flash_usable(q, self.k):
                raise RuntimeError("attention backend 'flash' needs flash-attn installed and CUDA fp16/bf16 tensors")
            seqlens = torch.full((q.shape[0],), end, dtype=torch.int32, device=q.device)
            return flash_attn_with_kvcache(
                q,
                self.k,
                self.v,
                k=k,
                v=v,
                cache_seqlens=seqlens,
                causal=True,
                window_size=(c.window - 1, 0),
                alibi_slopes=slopes.float(),
            )
        self.k[:, end : end + n] = k
        self.v[:, end : end + n] = v
        start = max(0, end + n - c.window)
        return attention(q, self.k[:, start : end + n], self.v[:, start : end + n], slopes, "sdpa", bias_cache)


class KVCache:
    """Keys/values of every layer for ``batch`` contexts; see the module docstring for the layout and window."""

    def __init__(
        self,
        n_layer: int,
        batch: int,
        window: int,
        n_head: int,
        head_dim: int,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        capacity: int | None = None,
    ):
        if window < 1:
            raise ValueError(f"the context window must be >= 1 token, got {window}")
        self.window = int(window)
        self.capacity = int(capacity or 2 * window)
        if self.capacity < self.window:
            raise ValueError(f"capacity {self.capacity} < window {self.window}")
        self.end = 0  # tokens held in the buffers (positions [0, end))
        self.seen = 0  # tokens appended since reset (the window slides once seen > window)
        shape = (batch, self.capacity, n_head, head_dim)
        self.layers = [
            LayerCache(
                self, torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)
            )
            for _ in range(n_layer)
        ]

    @property
    def batch(self) -> int:
        return self.layers[0].k.shape[0] if self.layers else 0

    def __len__(self) -> int:
        """Tokens the next step can attend to besides itself (at most ``window - 1``)."""
        return min(self.end, self.window - 1)

    def prepare(self, n: int) -> None:
        """Make room for ``n`` new tokens (``n <= window``): slide the last ``window - n`` to the front if needed."""
        if n > self.window:
            raise ValueError(f"cannot add {n} tokens at once to a {self.window}-token window; feed them in chunks")
        if self.end + n > self.capacity:
            self.end = slide([buf for layer in self.layers for buf in (layer.k, layer.v)], self.end, self.window - n)

    def advance(self, n: int) -> None:
        """Count the ``n`` tokens every layer has just written."""
        self.end += n
        self.seen += n

    def select(self, rows: torch.Tensor | list[int]) -> None:
        """Keep only these contexts (e.g. drop envs that have finished their episodes)."""
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.layers[0].k.device)
        for layer in self.layers:
            layer.k, layer.v = layer.k.index_select(0, idx), layer.v.index_select(0, idx)

    def reset(self) -> None:
        self.end = self.seen = 0
