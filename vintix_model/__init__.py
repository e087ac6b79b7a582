"""Vintix model: training and evaluation (lands in later issues)."""
