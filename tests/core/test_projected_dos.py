"""N(E_F) total and per element from projected DOS arrays (pure Python)."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.projected_dos import dos_at_energy, projected_dos_at_fermi


def test_dos_at_energy_gaussian_average_of_a_line():
    energies = np.linspace(-5, 5, 1001)
    dos = 2.0 + 0.5 * energies  # a linear DOS: the symmetric average equals the value at the centre
    assert dos_at_energy(energies, dos, 1.0, window_ev=0.1) == pytest.approx(2.5, rel=1e-6)
    assert dos_at_energy(energies, dos, 1.0, window_ev=0.0) == pytest.approx(2.5, rel=1e-9)


def test_projected_dos_shares():
    energies = np.linspace(-10, 5, 1501)
    h_dos = np.full_like(energies, 0.6)
    s_dos = np.full_like(energies, 0.2)
    result = projected_dos_at_fermi(energies, h_dos + s_dos + 0.05, {'H': h_dos, 'S': s_dos}, 0.0, natoms=4)
    assert result['fraction_H'] == pytest.approx(0.75) and result['fraction_S'] == pytest.approx(0.25)
    assert result['dos_total_states_per_ev'] == pytest.approx(0.85)
    assert result['dos_per_atom_states_per_ev'] == pytest.approx(0.85 / 4)
    assert result['metallic'] is True


def test_insulator_and_bad_input():
    energies = np.linspace(-10, 5, 301)
    gap = np.where(np.abs(energies) < 2, 0.0, 1.0)
    result = projected_dos_at_fermi(energies, gap, {'H': gap}, 0.0, natoms=2)
    assert result['metallic'] is False and result['fraction_H'] == 0.0
    with pytest.raises(HydridesInputError, match='outside the DOS energy range'):
        dos_at_energy(energies, gap, 7.0)
    with pytest.raises(HydridesInputError, match='same length'):
        dos_at_energy(energies, gap[:-1], 0.0)
