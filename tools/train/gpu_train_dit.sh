#!/bin/bash
# Trains the reel-tiny DiT on one CUDA GPU inside a fixed wall-clock budget (a lent device machine:
# one call, nothing kept afterwards). Writes the EMA weights as a light checkpoint (shards <= 12 MB)
# and the log under OUT; export on any machine with
#   /usr/bin/python3 tools/train/export.py --vae models/reel-tiny/vae.safetensors \
#       --dit OUT/ckpt --out models/reel-tiny --cfg-scale 3
#
#   OUT=/tmp/gpu-out bash tools/train/gpu_train_dit.sh [deadline minutes, default 8] [extra flags]
# continues the DiT and text encoder of models/reel-tiny (its VAE and latent statistics too); stage
# 4 of the model card started a new DiT instead, with the extra flags
#   --fresh-dit --hidden-size 256 --layers 8
# and a second call right after the first (same machine, its /tmp still there) continues a run:
#   --resume --lr 2.5e-4
# Uses the python3 first on PATH (the device image's, with CUDA PyTorch).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the output directory}"
deadline=${1:-8}
shift || true
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
workers=$(( $(nproc) > 2 ? $(nproc) - 1 : 1 ))
python3 tools/train/train_dit.py --init models/reel-tiny \
  --out /tmp/reel-gpu-run --light-ckpt "$OUT/ckpt" --clips 12000 --frames 64 --batch 32 \
  --lr 6e-4 --warmup 200 --steps 100000 --max-minutes 60 --deadline-minutes "$deadline" \
  --save-minutes 1.5 --workers "$workers" --threads 4 --device cuda --seed 7 "$@" \
  2>&1 | tee "$OUT/train.log"
