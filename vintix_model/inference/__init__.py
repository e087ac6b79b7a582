"""Acting in context, one token per env step (docs/design.md §10). Import from the modules themselves.

kv_cache.py  the sliding-window KV cache (SDPA, or flash_attn_with_kvcache on CUDA half precision)
agent.py     ICRLAgent and TaskContext: a batch of in-context runs stepped in lockstep
"""
