#!/usr/bin/env bash
# The whole data pipeline on a small local default, in about 4 minutes on 2 shared CPU cores (README):
# train a PPO demonstrator for Industrial Benchmark (setpoint 50), collect noise-distilled
# learning histories with it, validate them, and load the folder with `datasets`.
# No token, no network. The paper-size run is the same commands with the defaults:
#   vintix-data demonstrator train industrial-benchmark-50-v1 --out ppo.zip   (1M steps)
#   vintix-data collect industrial-benchmark-50-v1 --out DIR                  (15 x 100,000 steps)
set -euo pipefail
OUT=${1:-quickstart}
TASK=industrial-benchmark-50-v1
if [ -e "$OUT/vintix-$TASK" ]; then echo "error: $OUT/vintix-$TASK exists; pass another folder: bash $0 OTHER" >&2; exit 2; fi
mkdir -p "$OUT"
vintix-data demonstrator train "$TASK" --out "$OUT/ppo-$TASK.zip" --timesteps 100000 --no-install
vintix-data demonstrator eval "$TASK" --demonstrator "sb3:$OUT/ppo-$TASK.zip" --episodes 10
vintix-data collect "$TASK" --out "$OUT/vintix-$TASK" --demonstrator "sb3:$OUT/ppo-$TASK.zip" --histories 4 --steps 25000
vintix-data info "$OUT/vintix-$TASK"
