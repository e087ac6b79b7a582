"""In-context evaluation (docs/design.md §10): ``vintix-model eval``. Import from the modules themselves.

config.py  EvalConfig (checked up front), EvalError, parse_prompt
runner.py  resolve the task (trained or held out), the seeded rollouts, the context-reset ablation, evaluate()
report.py  per-shot statistics across seeds, results.json and returns.png
"""
