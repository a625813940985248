#!/usr/bin/env bash
# Record the fcc Al electron-phonon test data in tests/data/qe_al_elph/.
#
# The chain is the PHonon example03 recipe of Quantum ESPRESSO (interpolated el-ph):
#   1. pw.x scf on the dense k grid 16^3 with la2F=.true.   (writes al.a2Fsave)
#   2. pw.x scf on the coarse k grid 8^3
#   3. ph.x on a 4^3 q grid, electron_phonon='interpolated', el_ph_sigma=0.005, el_ph_nsigma=10
#   4. q2r.x with la2F=.true.
#   5. matdyn.x with la2F=.true., dos=.true., ndos=200 (a fine histogram, see docs/superconductivity.md)
# Only the small outputs are kept: a2F.dos1..10, lambda, al.dyn0, one elph_dir/elph.inp_lambda.1, the ph.x output
# and all inputs. Runs in ~30-60 s on 2 cores.
#
# Usage: scripts/record_al_elph.sh [DESTINATION]   (default: tests/data/qe_al_elph)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/tests/data/qe_al_elph}"
PSEUDO_DIR="${PSEUDO_DIR:-/usr/share/espresso/pseudo}"
NP="${NP:-2}"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

run() {  # run EXE INPUT OUTPUT: QE executable on NP processes with k-point pools
    nice -n 10 mpirun --allow-run-as-root -np "$NP" "$1" -nk "$NP" -in "$2" > "$3"
}
run_serial() {  # q2r.x and matdyn.x are cheap: one process
    nice -n 10 "$1" < "$2" > "$3"
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

write_scf() {  # write_scf FILE NK LA2F
    cat > "$1" <<EOI
 &control
    calculation = 'scf'
    prefix = 'al'
    pseudo_dir = '$PSEUDO_DIR'
    outdir = './out'
 /
 &system
    ibrav = 2, celldm(1) = 7.5, nat = 1, ntyp = 1,
    ecutwfc = 15.0,
    occupations = 'smearing', smearing = 'methfessel-paxton', degauss = 0.05,
    la2F = $3
 /
 &electrons
    conv_thr = 1.0d-10
    mixing_beta = 0.7
 /
ATOMIC_SPECIES
 Al  26.98 Al.pz-vbc.UPF
ATOMIC_POSITIONS alat
 Al 0.00 0.00 0.00
K_POINTS automatic
 $2 $2 $2  0 0 0
EOI
}

write_scf scf.fit.in 16 .true.
write_scf scf.in 8 .false.

cat > ph.in <<'EOI'
Electron-phonon coefficients for Al
 &inputph
    tr2_ph = 1.0d-14,
    prefix = 'al',
    outdir = './out',
    fildvscf = 'aldv',
    amass(1) = 26.98,
    fildyn = 'al.dyn',
    electron_phonon = 'interpolated',
    el_ph_sigma = 0.005,
    el_ph_nsigma = 10,
    trans = .true.,
    ldisp = .true.,
    nq1 = 4, nq2 = 4, nq3 = 4
 /
EOI

cat > q2r.in <<'EOI'
 &input
    zasr = 'simple', fildyn = 'al.dyn', flfrc = 'al444.fc', la2F = .true.
 /
EOI

cat > matdyn.in <<'EOI'
 &input
    asr = 'simple', amass(1) = 26.98,
    flfrc = 'al444.fc', flfrq = 'al444.freq', la2F = .true., dos = .true.,
    fldos = 'phonon.dos', nk1 = 16, nk2 = 16, nk3 = 16, ndos = 200
 /
EOI

SECONDS=0
run pw.x scf.fit.in scf.fit.out
run pw.x scf.in scf.out
run ph.x ph.in ph.out
run_serial q2r.x q2r.in q2r.out
run_serial matdyn.x matdyn.in matdyn.out
echo "QE chain finished in ${SECONDS} s"

grep -q 'JOB DONE' ph.out || { echo 'ph.x did not finish' >&2; exit 1; }
ls a2F.dos1 a2F.dos10 lambda > /dev/null

mkdir -p "$DEST"
cp scf.fit.in scf.in ph.in q2r.in matdyn.in ph.out al.dyn0 lambda a2F.dos* "$DEST"/
cp elph_dir/elph.inp_lambda.1 "$DEST"/
# The inputs point to the local pseudo folder; record the generic location instead of a machine path.
sed -i "s|pseudo_dir = '.*'|pseudo_dir = '/usr/share/espresso/pseudo'|" "$DEST"/scf.fit.in "$DEST"/scf.in
echo "QE version: $(grep -m1 'Program PHONON' ph.out)" > "$DEST"/README.txt
cat >> "$DEST"/README.txt <<'EOI'
fcc Al electron-phonon data recorded with scripts/record_al_elph.sh (PHonon example03 settings:
Al.pz-vbc.UPF, ecutwfc 15 Ry, MP smearing 0.05 Ry, dense k 16^3 (la2F), coarse k 8^3, q 4^3,
el_ph_sigma 0.005 Ry x 10, matdyn nk 16^3 with ndos 200).
Files: a2F.dos1..10 (alpha^2F per sigma_i = i*0.005 Ry), lambda (matdyn's q-sum per sigma), al.dyn0 (irreducible q),
elph.inp_lambda.1 (el-ph data at q = Gamma), ph.out (ph.x stdout), and the inputs.
EOI
du -sh "$DEST"
