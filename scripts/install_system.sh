#!/usr/bin/env bash
# Install the Debian packages aiida-hydrides needs (Quantum ESPRESSO 6.7, a C++ toolchain, Python venv support,
# Graphviz for provenance graphs, Chromium and its WebDriver for the headless-browser test of `aiida-hydrides report`).
# Idempotent: does nothing when every program is already present.
set -euo pipefail

need=()
command -v pw.x >/dev/null 2>&1 || need+=(quantum-espresso)
[ -d /usr/share/espresso/pseudo ] || need+=(quantum-espresso-data)
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
command -v g++ >/dev/null 2>&1 || need+=(build-essential)
command -v git >/dev/null 2>&1 || need+=(git)
command -v dot >/dev/null 2>&1 || need+=(graphviz)  # verdi node graph generate renders with it
# the report test opens the HTML page in a headless browser (selenium drives chromium through chromedriver)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    >/dev/null 2>&1 || need+=(python3-dev)

if [ ${#need[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi

echo "system packages: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "error: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
