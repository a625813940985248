#!/usr/bin/env bash
# Train, freeze and test the seed DeePMD model (se_e2_a, fp64, type_map H Ca Y) on the committed seed labels.
#
#   scripts/train_seed_model.sh                 # final model: all pieces of data/seed, 60000 steps
#   STEPS=300 OUT=/tmp/seed-try scripts/train_seed_model.sh   # quick check of the pipeline
#
# Steps: merge the pieces into train / held-out deepmd/npy systems (held-out = 10 % of the frames, chosen by a hash of
# the frame id, fixed in data/seed/manifest.json before any training); choose `sel` from `dp --pt neighbor-stat` with
# a 25 % margin; `dp --pt train`; `dp --pt freeze`; `dp --pt test` on the held-out frames. Results go to OUT
# (default aiida_hydrides/models/seed): seed_se_e2_a.pth, input.json, lcurve.out, heldout.json, and the benchmark
# results benchmarks/results/seed_model_heldout{,_force}.json (only for the default OUT).
#
# Environment: STEPS (60000), OUT, WORK (scratch folder, default build/seed_training), DATA (data/seed),
# THREADS (1: the machine is shared with pw.x runs), ROUNDS (label rounds to train on, e.g. 1,2; default all; the
# held-out figures are taken over the same rounds), INIT (a frozen model to start from: an energy-weighted further
# stage, `seed_configs.ENERGY_STAGE`, trained with `dp --pt train --init-frz-model INIT`), STAGE (with INIT: `energy`,
# the default, or `continue`, more steps at the end of the scratch stage, `seed_configs.CONTINUE_STAGE`).
#
#   INIT=aiida_hydrides/models/seed/seed_se_e2_a.pth STEPS=8000 scripts/train_seed_model.sh   # further stage
#
# The committed model is one run from scratch (`seed_configs.SCRATCH_STAGE`, float32, 60000 steps, shipped in float64)
# and its continuation:
#
#   INIT=aiida_hydrides/models/seed/seed_se_e2_a.pth STAGE=continue STEPS=10000 scripts/train_seed_model.sh
#
# A further stage moves the first stage's input and learning curve to stage1-input.json and stage1-lcurve.out beside
# the model.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
DP="${DP:-$ROOT/.venv/bin/dp}"
STEPS="${STEPS:-60000}"
DATA="${DATA:-$ROOT/data/seed}"
DEFAULT_OUT="$ROOT/aiida_hydrides/models/seed"
OUT="${OUT:-$DEFAULT_OUT}"
WORK="${WORK:-$ROOT/build/seed_training}"
THREADS="${THREADS:-1}"
INIT="${INIT:-}"
STAGE="${STAGE:-}"
ARCH="${ARCH:-standard}"
if [[ -z "$INIT" && -n "$STAGE" && "$STAGE" != scratch ]]; then
    echo "Error: STAGE=$STAGE starts from a trained model: set INIT to a frozen .pth" >&2
    exit 1
fi
[[ -z "$INIT" ]] && STAGE=scratch
if [[ -n "$INIT" ]]; then
    INIT="$(cd "$(dirname "$INIT")" && pwd)/$(basename "$INIT")"
    STAGE="${STAGE:-energy}"
    # the first-stage model is read before OUT (perhaps the same folder) is overwritten
    cp "$INIT" "${TMPDIR:-/tmp}/hydrides-init-$$.pth"
    INIT="${TMPDIR:-/tmp}/hydrides-init-$$.pth"
    trap 'rm -f "$INIT"' EXIT
fi

export OMP_NUM_THREADS="$THREADS" DP_INTRA_OP_PARALLELISM_THREADS="$THREADS" DP_INTER_OP_PARALLELISM_THREADS=1
export NUM_WORKERS=0 DP_BACKEND=pytorch PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [[ ! -x "$DP" ]]; then
    echo "Error: $DP not found; install deepmd-kit into .venv (make setup)" >&2
    exit 1
fi
OUT="$(mkdir -p "$OUT" && cd "$OUT" && pwd)"
rm -rf "$WORK"
mkdir -p "$WORK/train"

echo "== 1/5 split the pieces of $DATA into train / held-out"
ROUND_ARGS=()
[[ -n "${ROUNDS:-}" ]] && ROUND_ARGS=(--rounds "$ROUNDS")
"$PY" -m aiida_hydrides.cli label split "$WORK/data" --data-dir "$DATA" "${ROUND_ARGS[@]}" | tee "$WORK/split.log"

RCUT="$("$PY" -c "import sys; from aiida_hydrides.core import seed_configs as s
sys.exit(f'Error: ARCH={sys.argv[1]} is not one of {\", \".join(s.SEED_ARCHITECTURES)}') \
    if sys.argv[1] not in s.SEED_ARCHITECTURES else print(s.SEED_ARCHITECTURES[sys.argv[1]]['rcut'])" "$ARCH")"
echo "== 2/5 neighbour statistics (rcut $RCUT A, architecture $ARCH) -> sel"
"$DP" --pt neighbor-stat -s "$WORK/data/train" -r "$RCUT" -t H Ca Y > "$WORK/neighbor_stat.log" 2>&1
grep -E 'max_nbor_size|min_nbor_dist' "$WORK/neighbor_stat.log" || true

"$PY" - "$WORK" "$STEPS" "$STAGE" "$INIT" "$ARCH" <<'EOF'
import json, pathlib, sys
from aiida_hydrides.core import seed_configs
work, steps, stage, init, architecture = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
split = json.loads((work / 'data' / 'split.json').read_text())
neighbors = seed_configs.parse_neighbor_stat((work / 'neighbor_stat.log').read_text())
# a further stage keeps the descriptor (sel, type_one_side, precision) of the model it starts from
kept = {}
if init:
    kept['sel'] = seed_configs.model_selection(init)
    one_side = seed_configs.model_type_one_side(init)
    if one_side is not None:
        kept['type_one_side'] = one_side
    precision = seed_configs.model_precision(init)
    if precision is not None:
        kept['precision'] = precision
config = seed_configs.training_input(
    split['train'], split['heldout'], neighbors, steps=steps, stage=stage, architecture=architecture, **kept
)
# paths relative to the training folder, so that input.json is readable anywhere
config['training']['training_data']['systems'] = [str(pathlib.Path(p).relative_to(work).as_posix()) for p in split['train']]
config['training']['training_data']['systems'] = ['../' + p for p in config['training']['training_data']['systems']]
config['_heldout'] = ['../' + str(pathlib.Path(p).relative_to(work).as_posix()) for p in split['heldout']]
(work / 'train' / 'input.json').write_text(json.dumps(config, indent=2) + '\n')
print(f"sel = {config['model']['descriptor']['sel']} from max neighbours {neighbors}; "
      f"{split['ntrain']} training and {split['nheldout']} held-out frames")
EOF

echo "== 3/5 dp --pt train ($STEPS steps, stage $STAGE)"
INIT_ARGS=()
[[ -n "$INIT" ]] && INIT_ARGS=(--init-frz-model "$INIT")
(cd "$WORK/train" && "$DP" --pt train input.json "${INIT_ARGS[@]}" > train.log 2>&1) \
    || { tail -30 "$WORK/train/train.log"; exit 1; }
tail -3 "$WORK/train/lcurve.out"

echo "== 4/5 dp --pt freeze"
(cd "$WORK/train" && "$DP" --pt freeze -o seed_se_e2_a.pth > freeze.log 2>&1) || { tail -30 "$WORK/train/freeze.log"; exit 1; }

if grep -q '"precision": "float32"' "$WORK/train/input.json"; then
    echo "== 4b/5 float64 copy of the float32-trained model (seed_configs.float64_copy_input)"
    mkdir -p "$WORK/float64"
    "$PY" -c "import json, sys; from aiida_hydrides.core import seed_configs
json.dump(seed_configs.float64_copy_input(json.load(open(sys.argv[1]))), open(sys.argv[2], 'w'), indent=2)" \
        "$WORK/train/input.json" "$WORK/float64/input.json"
    (cd "$WORK/float64" && "$DP" --pt train input.json --init-frz-model ../train/seed_se_e2_a.pth > train.log 2>&1 \
        && "$DP" --pt freeze -o seed_se_e2_a.pth > freeze.log 2>&1) || { tail -30 "$WORK/float64/train.log"; exit 1; }
    cp "$WORK/float64/seed_se_e2_a.pth" "$WORK/train/seed_se_e2_a.pth"
fi

echo "== 5/5 dp --pt test on the held-out frames"
if [[ "$STAGE" != scratch && -f "$OUT/input.json" ]] && ! grep -q '"_stage"' "$OUT/input.json"; then
    # keep the record of the first stage that the second one started from
    mv "$OUT/input.json" "$OUT/stage1-input.json"
    [[ -f "$OUT/lcurve.out" ]] && mv "$OUT/lcurve.out" "$OUT/stage1-lcurve.out"
fi
cp "$WORK/train/seed_se_e2_a.pth" "$WORK/train/input.json" "$WORK/train/lcurve.out" "$OUT/"
RESULTS_FLAG="--no-results"
[[ "$OUT" == "$(cd "$DEFAULT_OUT" 2>/dev/null && pwd)" ]] && RESULTS_FLAG=""
ROUNDS_USED="$("$PY" -c "import json, sys; print(','.join(map(str, json.load(open(sys.argv[1]))['rounds'])))" \
    "$WORK/data/split.json")"
"$PY" "$ROOT/benchmarks/seed_model_heldout.py" --model "$OUT/seed_se_e2_a.pth" --data "$DATA" \
    --rounds "$ROUNDS_USED" --report "$OUT/heldout.json" $RESULTS_FLAG
echo "done: $OUT"
