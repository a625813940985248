#!/usr/bin/env bash
# Train the tiny se_e2_a DeePMD model used by the LAM tests: tests/data/lam/tiny_se_e2_a.pth
#
# 1. pseudopotentials: the cached project family if present, else H/Ca/Y US pseudos generated with ld1.x from the
#    pslibrary inputs in ../shared/reference/pslibrary;
# 2. ~24 small Ca-Y-H cells near 200 GPa (rattled and strained CaH6/YH6 Im-3m cells, CaYH12, random pyxtal cells),
#    each labelled by one cheap pw.x scf (25 Ry, k mesh at most 2x2x2) with energies, forces and stress;
# 3. conversion to deepmd/npy with dpdata, training of a tiny se_e2_a model (dp --pt train), freezing to .pth.
#
# Usage: scripts/make_tiny_test_model.sh [WORKDIR]   (takes ~15-30 min on 2 shared cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-/tmp/tiny_lam_model}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DP="$(dirname "$PY")/dp"
SHARED="${HYDRIDES_SHARED:-$ROOT/../shared}"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export DP_INTRA_OP_PARALLELISM_THREADS=1 DP_INTER_OP_PARALLELISM_THREADS=1 NUM_WORKERS=0 DP_BACKEND=pytorch
mkdir -p "$WORK/pseudo" "$WORK/scf"

# -- 1. pseudopotentials ------------------------------------------------------------------------------------------
for el in H Ca Y; do
  if ! ls "$WORK/pseudo/$el".*.UPF >/dev/null 2>&1; then
    cached=$(ls "$HOME/.cache/aiida-hydrides/pseudos/$el".*.UPF "$HOME/.cache/aiida-hydrides/pseudos/$el"_*.UPF 2>/dev/null | head -1 || true)
    if [ -n "$cached" ]; then
      cp "$cached" "$WORK/pseudo/"
    else
      inp=$(ls "$SHARED/reference/pslibrary/us_ps_high/$el".pbe-*rrkjus_psl.1.0.0.in | head -1)
      (cd "$WORK/pseudo" && nice -n 10 ld1.x < "$inp" > "$(basename "${inp%.in}").ld1.out")
    fi
  fi
done

# -- 2. structures and pw.x labels --------------------------------------------------------------------------------
"$PY" - "$WORK" <<'PYEOF'
import glob, os, pathlib, subprocess, sys
import numpy as np
import ase.io
from ase import Atoms

work = pathlib.Path(sys.argv[1])
rng = np.random.default_rng(20240601)
pseudos = {pathlib.Path(p).name.split('.')[0].split('_')[0]: pathlib.Path(p).name
           for p in glob.glob(str(work / 'pseudo' / '*.UPF'))}

def im3m(metals, a):
    """Conventional Im-3m MH6 cell (2 formula units): metals at 2a, H at 12d."""
    frac = [(0, 0, 0), (0.5, 0.5, 0.5)]
    h = []
    for x, y, z in [(0.25, 0, 0.5), (0.75, 0, 0.5), (0.5, 0.25, 0), (0.5, 0.75, 0), (0, 0.5, 0.25), (0, 0.5, 0.75)]:
        h.append((x, y, z))
        h.append(((x + 0.5) % 1, (y + 0.5) % 1, (z + 0.5) % 1))
    return Atoms(list(metals) + ['H'] * 12, scaled_positions=frac + h, cell=np.eye(3) * a, pbc=True)

def primitive_bcc(metal, a):
    conv = im3m([metal, metal], a)
    prim_cell = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    keep = [0] + [i for i in range(2, 14) if i % 2 == 0]
    atoms = Atoms([conv[i].symbol for i in keep], positions=conv.positions[keep], cell=prim_cell, pbc=True)
    atoms.wrap()
    return atoms

def perturb(atoms, strain, rattle):
    atoms = atoms.copy()
    eps = rng.uniform(-strain, strain, (3, 3))
    atoms.set_cell(atoms.cell @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
    atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
    return atoms

def random_cell(n_metal_choices=(1, 2)):
    from pyxtal import pyxtal
    while True:
        nm = int(rng.choice(n_metal_choices)); nh = int(rng.integers(3, 10)) * nm
        metals = rng.choice(['Ca', 'Y'], nm)
        species, counts = [], []
        for m in ('Ca', 'Y'):
            if (metals == m).sum():
                species.append(m); counts.append(int((metals == m).sum()))
        species.append('H'); counts.append(nh)
        crystal = pyxtal()
        try:
            crystal.from_random(3, int(rng.choice([1, 2, 4, 10, 12, 25, 47, 71, 99, 123, 139, 166, 191, 221, 229])),
                                species, counts, random_state=int(rng.integers(1e9)))
        except Exception:
            continue
        if not crystal.valid:
            continue
        atoms = crystal.to_ase()
        target = 9.5 * sum(counts[:-1]) + 2.1 * nh
        atoms.set_cell(atoms.cell * (target / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
        d = atoms.get_all_distances(mic=True) + np.eye(len(atoms)) * 10
        if d.min() > 0.75 and len(atoms) <= 16:
            return atoms

frames = []
for _ in range(8):
    frames.append(perturb(primitive_bcc('Ca', rng.uniform(3.40, 3.65)), 0.04, 0.08))
for _ in range(8):
    frames.append(perturb(primitive_bcc('Y', rng.uniform(3.45, 3.70)), 0.04, 0.08))
for _ in range(4):
    frames.append(perturb(im3m(['Ca', 'Y'], rng.uniform(3.45, 3.65)), 0.03, 0.06))
for _ in range(4):
    frames.append(perturb(random_cell(), 0.02, 0.03))

for i, atoms in enumerate(frames):
    out = work / 'scf' / f'frame{i:03d}.out'
    if out.exists() and 'JOB DONE' in out.read_text():
        continue
    inp = work / 'scf' / f'frame{i:03d}.in'
    kpts = tuple(min(2, max(1, int(np.ceil(6.0 / np.linalg.norm(v))))) for v in atoms.cell)  # coarse on purpose
    ase.io.write(inp, atoms, format='espresso-in', pseudopotentials=pseudos, kpts=kpts, koffset=(1, 1, 1),
                 input_data={'control': {'calculation': 'scf', 'tprnfor': True, 'tstress': True,
                                         'pseudo_dir': str(work / 'pseudo'), 'outdir': str(work / 'scf' / 'tmp'),
                                         'prefix': f'f{i}', 'disk_io': 'none'},
                             'system': {'ecutwfc': 25, 'ecutrho': 150, 'occupations': 'smearing',
                                        'smearing': 'mv', 'degauss': 0.02},
                             'electrons': {'conv_thr': 1e-6 * len(atoms), 'mixing_beta': 0.4}})
    cmd = ['nice', '-n', '10', 'mpirun', '--allow-run-as-root', '-np', '2', 'pw.x', '-nk', '2', '-in', str(inp)]
    with open(out, 'w') as handle:
        status = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False, cwd=work / 'scf')
    state = 'done' if status.returncode == 0 else f'FAILED (exit {status.returncode}), left out'
    print(f'frame {i}: {len(atoms)} atoms {atoms.get_chemical_formula()} k={kpts} {state}', flush=True)
PYEOF

# -- 3. dpdata conversion ------------------------------------------------------------------------------------------
"$PY" - "$WORK" <<'PYEOF'
import glob, pathlib, sys
import ase.io, dpdata
work = pathlib.Path(sys.argv[1])
type_map = ['H', 'Ca', 'Y']
train, valid = dpdata.MultiSystems(type_map=type_map), dpdata.MultiSystems(type_map=type_map)
done = [out for out in sorted(glob.glob(str(work / 'scf' / 'frame*.out'))) if 'JOB DONE' in open(out).read()]
for k, out in enumerate(done):
    atoms = ase.io.read(out, format='espresso-out')
    (valid if k % 8 == 7 else train).append(dpdata.LabeledSystem(atoms, fmt='ase/structure', type_map=type_map))
train.to('deepmd/npy', str(work / 'data' / 'train'))
valid.to('deepmd/npy', str(work / 'data' / 'valid'))
print(train, valid)
PYEOF

# -- 4. train and freeze ----------------------------------------------------------------------------------------------
cd "$WORK"
"$PY" - "$WORK" <<'PYEOF'
import glob, json, pathlib, sys
work = pathlib.Path(sys.argv[1])
systems = lambda part: sorted(str(p.parent) for p in (work / 'data' / part).glob('*/type.raw'))
config = {
    'model': {'type_map': ['H', 'Ca', 'Y'],
              'descriptor': {'type': 'se_e2_a', 'sel': [100, 28, 28], 'rcut': 4.0, 'rcut_smth': 0.5,
                             'neuron': [4, 8, 16], 'axis_neuron': 4, 'type_one_side': True, 'seed': 1},
              'fitting_net': {'neuron': [16, 16], 'resnet_dt': True, 'seed': 1}},
    'learning_rate': {'type': 'exp', 'start_lr': 2e-3, 'stop_lr': 5e-5, 'decay_steps': 80},
    'loss': {'type': 'ener', 'start_pref_e': 0.5, 'limit_pref_e': 10, 'start_pref_f': 100, 'limit_pref_f': 10,
             'start_pref_v': 0.05, 'limit_pref_v': 1},
    'training': {'training_data': {'systems': systems('train'), 'batch_size': 'auto'},
                 'validation_data': {'systems': systems('valid'), 'batch_size': 1, 'numb_btch': 1},
                 'numb_steps': 800, 'seed': 1, 'disp_file': 'lcurve.out', 'disp_freq': 100, 'save_freq': 800},
}
(work / 'input.json').write_text(json.dumps(config, indent=1))
PYEOF
"$DP" --pt train input.json > train.log 2>&1
"$DP" --pt freeze -o tiny_se_e2_a.pth > freeze.log 2>&1
"$DP" --pt test -m tiny_se_e2_a.pth -s data/valid > test.log 2>&1 || true
tail -n 20 test.log
mkdir -p "$ROOT/tests/data/lam"
cp tiny_se_e2_a.pth "$ROOT/tests/data/lam/tiny_se_e2_a.pth"
ls -l "$ROOT/tests/data/lam/tiny_se_e2_a.pth"
