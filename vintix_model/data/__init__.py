"""The model's data path: vintix datasets -> memory-mapped arrays -> cross-episode windows (docs/design.md §10).
Import from the modules themselves.

  arrays.py   open, validate and decode a dataset once into content-addressed ``.npy`` arrays (TaskData, prepare)
  sampler.py  the window index, the epoch order (a pure function of seed and epoch), Dataset, collate, DataLoader
"""
