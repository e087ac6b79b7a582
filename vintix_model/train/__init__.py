"""Training (docs/design.md §10): ``vintix-model train``. Import from the module itself.

run.py  the loop (one process or torchrun DDP), optimizer and schedule, the run folder, --resume
"""
