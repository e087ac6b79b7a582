"""Interop with the original Vintix release (``dunnolab/vintix``; docs/design.md §10). Import from the modules
themselves.

  layout.py   its checkpoint files and how its keys, config, groups and task names map onto ours
  convert.py  ``vintix-model convert``: a released checkpoint into ours, checked before anything is written
"""
