#!/usr/bin/env bash
# mlpose on one CUDA GPU: training speed (and MMPose's), exact resume, an NCCL smoke; one table.
#
#   bash benchmarks/gpu.sh            # from the repository root, on a machine with a CUDA GPU
#   WITH_MMPOSE=1 bash benchmarks/gpu.sh   # first installs MMPose (../shared/anchors/mmpose/install.sh)
#
# Under 8 minutes on one H200 (the MMPose install not counted). Installs mlpose into a venv that
# sees the machine's own CUDA torch (--system-site-packages; torch>=2.1 is satisfied, so pip keeps
# it), renders 600 images with `mlpose data synth`, then:
#   1. res50 256x192 --amp (fp16 + GradScaler, channels-last, cudnn.benchmark) at batch 64:
#      images/s from the log's per-iteration time, warm-up windows left out;
#   2. the same with MMPose 1.3.2 (its own recipe, --amp) when /tmp/mmpose-venv has it;
#   3. exact resume: the tiny recipe, deterministic, --amp, 2 epochs uninterrupted vs killed with
#      SIGKILL in epoch 2 and resumed with --resume: the final weights must be bit-identical;
#   4. NCCL smoke: torchrun with 1 process (--launcher pytorch), NCCL process group, one epoch
#      with validation (whose results are gathered over NCCL).
set -euo pipefail
cd "$(dirname "$0")/.."
# CPU_CHECK=1: a check of this script itself without a GPU (40 images, no speed figures, gloo).
NUM=600
if [ -n "${CPU_CHECK:-}" ]; then NUM=40; else
  python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu.sh: no CUDA device visible to python3's torch" >&2; exit 1; }
fi
W=${WORK:-/tmp/mlpose-gpu}
VENV=${VENV:-$W/venv}
MMPOSE_PY=${MMPOSE_PY:-/tmp/mmpose-venv/bin/python}
mkdir -p "$W"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q -e .
fi
PY="$VENV/bin/python"
if [ -n "${WITH_MMPOSE:-}" ] && [ ! -x "$MMPOSE_PY" ]; then bash ../shared/anchors/mmpose/install.sh; fi
DATA="$W/data"
[ -f "$DATA/annotations/person_keypoints_train.json" ] || \
  "$PY" -m mlpose.cli data synth "$DATA" --num-train $NUM --num-val 32 --image-size 320x256
TRAIN="train_dataloader.dataset.data_root=$DATA/ train_dataloader.dataset.ann_file=annotations/person_keypoints_train.json
       train_dataloader.dataset.data_prefix.img=images/train/"
: > "$W/results.txt"
note() { echo "$1|$2" >> "$W/results.txt"; echo "== $1: $2"; }
speed() {  # images/s at batch 64 from a log's "time: S" (seconds per iteration), warm-up left out
  "$PY" - "$1" <<'EOF'
import re, statistics, sys
times = [float(m.group(1)) for line in open(sys.argv[1]) if "Epoch(train)" in line
         for m in [re.search(r"\btime: ([\d.]+)", line)] if m]
print(f"{64 / statistics.median(times[4:]):.0f}" if len(times) > 5 else "n/a")
EOF
}

# 1. mlpose res50 AMP speed
if [ -z "${CPU_CHECK:-}" ]; then
rm -rf "$W/speed"
"$PY" -m mlpose.cli train res50 --amp --no-validate --work-dir "$W/speed" --cfg-options $TRAIN \
  train_dataloader.batch_size=64 train_cfg.max_epochs=3 default_hooks.logger.interval=5 \
  default_hooks.checkpoint.interval=100 env_cfg.cudnn_benchmark=True tracking.enabled=False > "$W/speed.out" 2>&1
note "mlpose res50 256x192 --amp bs64 images/s" "$(speed "$(ls "$W"/speed/*/*.log | tail -1)")"

# 2. MMPose, same data, its recipe with --amp
if [ -x "$MMPOSE_PY" ]; then
  M=$("$MMPOSE_PY" -c "import mmpose, os; print(os.path.join(os.path.dirname(mmpose.__file__), '.mim'))")
  rm -rf "$W/mm"
  "$MMPOSE_PY" "$M/tools/train.py" ../shared/anchors/mmpose/configs/synth_td-hm_res50_256x192.py --amp \
    --work-dir "$W/mm" --cfg-options train_dataloader.dataset.data_root="$DATA/" train_dataloader.dataset.indices=None \
    train_dataloader.batch_size=64 train_dataloader.num_workers=8 train_dataloader.persistent_workers=True \
    train_cfg.max_epochs=3 default_hooks.logger.interval=5 default_hooks.checkpoint.interval=100 \
    env_cfg.cudnn_benchmark=True > "$W/mm.out" 2>&1 || true
  note "MMPose res50 256x192 --amp bs64 images/s" "$(speed "$(ls "$W"/mm/*/*.log 2>/dev/null | tail -1)")"
else
  note "MMPose res50 256x192 --amp bs64 images/s" "not installed (WITH_MMPOSE=1)"
fi
fi

# 3. exact resume on the GPU: uninterrupted vs SIGKILL in epoch 2 + --resume
TINY="$TRAIN randomness.seed=0 randomness.deterministic=True train_cfg.max_epochs=2 default_hooks.checkpoint.interval=1
      default_hooks.logger.interval=1 tracking.enabled=False"
rm -rf "$W/ref" "$W/killed"
"$PY" -m mlpose.cli train tiny --amp --no-validate --work-dir "$W/ref" --cfg-options $TINY > "$W/ref.out" 2>&1
"$PY" -m mlpose.cli train tiny --amp --no-validate --work-dir "$W/killed" --cfg-options $TINY > "$W/killed.out" 2>&1 &
PID=$!
until grep -q "Epoch(train) \[2\]\[ *2/" "$W/killed.out" 2>/dev/null || ! kill -0 $PID 2>/dev/null; do sleep 0.1; done
kill -9 $PID 2>/dev/null || true
wait $PID 2>/dev/null || true
if [ -f "$W/killed/epoch_2.pth" ]; then
  note "exact resume (fp16 AMP, deterministic, SIGKILL in epoch 2)" "not tested: epoch 2 ended before the kill"
else
"$PY" -m mlpose.cli train tiny --amp --no-validate --resume --work-dir "$W/killed" --cfg-options $TINY > "$W/resumed.out" 2>&1
note "exact resume (fp16 AMP, deterministic, SIGKILL in epoch 2)" "$("$PY" - "$W" <<'EOF'
import sys, torch
ref, got = (torch.load(f"{sys.argv[1]}/{d}/epoch_2.pth", weights_only=True)["state_dict"] for d in ("ref", "killed"))
same = ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
print("bit-identical" if same else "DIFFERENT")
EOF
)"
fi

# 4. NCCL smoke: one process under torchrun, validation gathered over NCCL
rm -rf "$W/ddp"
if "$PY" -m torch.distributed.run --nproc_per_node 1 -m mlpose.cli train tiny --launcher pytorch --work-dir "$W/ddp" \
     --cfg-options $TRAIN val_dataloader.dataset.data_root="$DATA/" val_evaluator.ann_file="$DATA/annotations/person_keypoints_val.json" \
     train_cfg.max_epochs=1 train_cfg.val_interval=1 tracking.enabled=False > "$W/ddp.out" 2>&1 \
   && grep -q "coco/AP" "$W/ddp.out"; then
  note "1-GPU NCCL torchrun smoke (train + validation)" "ok"
else
  note "1-GPU NCCL torchrun smoke (train + validation)" "FAILED (see $W/ddp.out)"
fi

"$PY" - "$W/results.txt" <<'EOF'
import sys, torch
rows = [line.rstrip("\n").split("|", 1) for line in open(sys.argv[1])]
device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (CPU_CHECK)"
print(f"\nmlpose on {device}, torch {torch.__version__}")
width = max(len(r[0]) for r in rows)
print(f"| {'measurement'.ljust(width)} | result |\n|{'-' * (width + 2)}|--------|")
for name, value in rows:
    print(f"| {name.ljust(width)} | {value} |")
EOF
