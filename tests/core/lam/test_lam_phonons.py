"""LAM phonons with EMT: a stable fcc Al passes the 3 THz rule, an artificially unstable simple-cubic Al fails."""

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_hydrides.core.lam.ase_backend import AseEvaluator
from aiida_hydrides.core.lam.errors import HydridesInputError
from aiida_hydrides.core.lam.phonons import lam_phonons


def test_fcc_al_is_stable():
    result = lam_phonons(bulk('Al', 'fcc', a=4.05), AseEvaluator(EMT()), supercell=(3, 3, 3), mesh=(4, 4, 4))
    assert result.passed
    assert result.max_imaginary_thz < 0.05
    assert 7.0 < result.max_frequency_thz < 9.0  # EMT Al; experiment ~9.7 THz
    assert result.as_dict()['imaginary_threshold_thz'] == 3.0


def test_simple_cubic_al_fails_the_3_thz_rule():
    result = lam_phonons(bulk('Al', 'sc', a=2.55), AseEvaluator(EMT()), supercell=(3, 3, 3), mesh=(4, 4, 4))
    assert not result.passed
    assert result.max_imaginary_thz > 3.0
    assert result.n_imaginary_qpoints > 0
    lenient = lam_phonons(
        bulk('Al', 'sc', a=2.55), AseEvaluator(EMT()), supercell=(3, 3, 3), mesh=(4, 4, 4), imaginary_threshold_thz=10.0
    )
    assert lenient.passed


def test_phonon_input_errors():
    with pytest.raises(HydridesInputError, match='supercell'):
        lam_phonons(bulk('Al', 'fcc', a=4.05), AseEvaluator(EMT()), supercell=(2, 2))
    with pytest.raises(HydridesInputError, match='imaginary_threshold_thz'):
        lam_phonons(bulk('Al', 'fcc', a=4.05), AseEvaluator(EMT()), imaginary_threshold_thz='3 THz')
