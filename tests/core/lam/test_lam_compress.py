"""Compressed DeePMD models: same numbers as the model itself, made once per model content, refused models fall back."""

import logging
import shutil

import numpy as np
import pytest

from aiida_hydrides.core.lam.compress import compressed_model, file_sha256
from aiida_hydrides.core.lam.model import load_model


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp('model-cache')


def test_compressed_model_matches_and_is_cached(tiny_model_path, tiny_evaluator, cah6_cells, cache, monkeypatch):
    monkeypatch.setenv('HYDRIDES_MODEL_CACHE', str(cache))
    first = compressed_model(tiny_model_path)
    assert first.parent == cache and first.exists() and first != tiny_model_path
    assert file_sha256(tiny_model_path)[:16] in first.name
    stamp = first.stat().st_mtime_ns
    assert compressed_model(tiny_model_path) == first and first.stat().st_mtime_ns == stamp  # not made again

    compressed = load_model(tiny_model_path, compress=True)
    assert compressed.compressed and compressed.path.name == first.name  # (perhaps loaded earlier from another cache)
    assert compressed.source_model == tiny_model_path
    assert compressed is not tiny_evaluator and not tiny_evaluator.compressed
    reference = tiny_evaluator.evaluate(cah6_cells, pressure_gpa=200.0)
    fast = compressed.evaluate(cah6_cells, pressure_gpa=200.0)
    for ref, new in zip(reference, fast):
        assert abs(ref.enthalpy_per_atom - new.enthalpy_per_atom) < 1e-7
        np.testing.assert_allclose(new.forces, ref.forces, atol=1e-6)
        np.testing.assert_allclose(new.stress_gpa, ref.stress_gpa, atol=1e-5)


def test_changed_model_is_compressed_again(tiny_model_path, cache, tmp_path):
    copy = tmp_path / 'model.pth'
    shutil.copy(tiny_model_path, copy)
    same = compressed_model(copy, directory=cache)
    assert file_sha256(tiny_model_path)[:16] in same.name  # same content, same key


def test_models_that_cannot_be_compressed_are_used_as_they_are(tmp_path, caplog):
    broken = tmp_path / 'broken.pth'
    broken.write_text('not a model')
    with caplog.at_level(logging.WARNING):
        assert compressed_model(broken, directory=tmp_path / 'cache') == broken.resolve()
    assert 'dp --pt compress` failed' in caplog.text and 'using the model uncompressed' in caplog.text
    assert not list((tmp_path / 'cache').glob('*.pth'))  # nothing half-written left in the cache
    checkpoint = tmp_path / 'model.pt'
    checkpoint.write_bytes(b'')
    with caplog.at_level(logging.WARNING):
        assert compressed_model(checkpoint, directory=tmp_path / 'cache') == checkpoint.resolve()
    assert 'not a frozen PyTorch model' in caplog.text


@pytest.mark.parametrize('compress', [False, True])
def test_float32_copy_matches_the_model(tiny_model_path, tiny_evaluator, cah6_cells, cache, monkeypatch, compress):
    """The float32 copy (rebuilt by deepmd-kit from the stored model definition) gives the float64 numbers to float32
    rounding, is cached by content, precision and compression, and says what it is."""
    from aiida_hydrides.core.lam.compress import inference_model

    monkeypatch.setenv('HYDRIDES_MODEL_CACHE', str(cache))
    copy = inference_model(tiny_model_path, compress=compress, precision='float32')
    assert copy.exists() and copy.name.endswith('float32.pth') and ('-s0.01-' in copy.name) == compress
    assert inference_model(tiny_model_path, compress=compress, precision='float32') == copy
    single = load_model(tiny_model_path, compress=compress, precision='float32')
    assert single.precision == 'float32' and 'float32' in single.description and single.compressed == compress
    reference = tiny_evaluator.evaluate(cah6_cells, pressure_gpa=200.0)
    for ref, new in zip(reference, single.evaluate(cah6_cells, pressure_gpa=200.0)):
        assert abs(ref.enthalpy_per_atom - new.enthalpy_per_atom) < 1e-4
        np.testing.assert_allclose(new.forces, ref.forces, atol=5e-3)
        np.testing.assert_allclose(new.stress_gpa, ref.stress_gpa, atol=0.05)


def test_unknown_precision_is_refused(tiny_model_path):
    from aiida_hydrides.core.lam.compress import inference_model
    from aiida_hydrides.core.lam.errors import LamModelError

    with pytest.raises(LamModelError, match='unknown precision'):
        inference_model(tiny_model_path, precision='float16')
