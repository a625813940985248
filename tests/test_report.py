"""The campaign report: figures from plain arrays (``aiida_hydrides.core.report``), the page of a group
(``aiida_hydrides.report``, ``aiida-hydrides report``) and, in a headless Chromium, that every figure of the page
renders (PNG in the page, SVG behind its link).

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_system.sh``) and selenium (the
``dev`` extra); without them it is skipped on a workstation and fails in CI (``CI`` set).
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from aiida import orm
from test_candidates import H3S_EPC_UUID, make_campaign

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _check_files(paths):
    assert paths['png'].read_bytes()[:8] == PNG_MAGIC
    assert paths['png'].stat().st_size > 5000
    assert '<svg' in paths['svg'].read_text()


def test_core_figures_from_plain_arrays(tmp_path):
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.report import (
        a2f_figure,
        funnel_figure,
        hull_figure,
        save_figure,
        tc_ehull_figure,
        ternary_xy,
    )

    assert ternary_xy((1, 0, 0)) == (0.0, 0.0)
    assert ternary_xy((0, 2, 0)) == (1.0, 0.0)
    assert ternary_xy((0, 0, 1)) == pytest.approx((0.5, 3**0.5 / 2))
    ternary = [('Ca', -1.0), ('Y', -2.0), ('H2', -3.0), ('CaH6', -2.864), ('YH6', -3.057), ('CaYH12', -2.976)]
    ternary += [('CaH4', -2.52), ('Ca2YH12', -2.8)]
    _check_files(save_figure(hull_figure(ternary, ['Ca', 'Y']), tmp_path, 'ternary'))
    binary = [('S', -1.0), ('H', -3.0), ('H3S', -2.6), ('H2S', -2.4), ('H5S2', -2.3)]
    _check_files(save_figure(hull_figure(binary, ['S', 'H'], title='S-H'), tmp_path, 'binary'))
    with pytest.raises(HydridesInputError, match='one or two elements besides H'):
        hull_figure([('Ca', 0), ('Y', 0), ('La', 0), ('H', 0)], ['Ca', 'Y', 'La'])
    with pytest.raises(HydridesInputError, match='no elemental reference for Y'):
        hull_figure([('Ca', 0), ('H', 0), ('CaYH12', -1)], ['Ca', 'Y'])

    rows = [
        {'formula': 'YH6', 'tc_K': 205.0, 'ehull_mev': 0.0, 'ehull_method': 'dft'},
        {'formula': 'CaH4', 'tc_K': 80.0, 'ehull_mev': 40.0, 'ehull_method': 'lam'},
        {'formula': 'CaH6', 'tc_K': float('nan'), 'ehull_mev': 10.0, 'ehull_method': 'dft'},
    ]
    _check_files(save_figure(tc_ehull_figure(rows), tmp_path, 'tc'))
    with pytest.raises(HydridesInputError, match='no candidate has both'):
        tc_ehull_figure(rows[2:])

    omega = np.linspace(0.0, 250.0, 400)
    a2f = 0.8 * np.exp(-(((omega - 150.0) / 40.0) ** 2)) + 0.3 * np.exp(-(((omega - 30.0) / 10.0) ** 2))
    _check_files(save_figure(a2f_figure(omega, a2f, title='test'), tmp_path, 'a2f'))
    _check_files(save_figure(funnel_figure([('candidates', 40), ('E_hull', 12), ('EPC', 3)]), tmp_path, 'funnel'))
    with pytest.raises(HydridesInputError, match='no stage'):
        funnel_figure([])


def test_core_report_never_imports_aiida(tmp_path):
    code = (
        'import sys\n'
        'from aiida_hydrides.core.report import funnel_figure, render_page, save_figure\n'
        f'save_figure(funnel_figure([("a", 2), ("b", 1)]), {str(tmp_path)!r}, "f")\n'
        'render_page("t", ["s"], [])\n'
        'leaked = sorted(name for name in sys.modules if name == "aiida" or name.startswith("aiida."))\n'
        'assert not leaked, leaked\n'
    )
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _page_sources(index):
    page = index.read_text()
    return page, re.findall(r'<img src="([^"]+)"', page), re.findall(r'<a href="([^"]+\.svg)"', page)


@pytest.fixture
def campaign():
    return make_campaign()


def test_write_report_of_a_campaign(campaign, tmp_path):
    from aiida_hydrides.report import write_report

    group, nodes = campaign
    result = write_report(group, tmp_path / 'report')
    h3s = nodes['H3S'].uuid[:8]
    yh6 = nodes['YH6'].uuid[:8]
    assert set(result.figures) == {
        'funnel',
        'hull_lam_Ca-Y-H_200GPa',
        'hull_dft_Ca-Y-H_200GPa',
        'tc_vs_ehull',
        f'a2f_YH6_{yh6}',
        f'a2f_H3S_{h3s}',
    }
    assert result.candidates == 6
    notes = '\n'.join(result.skipped)
    assert 'Convex hull of S-H at 200 GPa with LAM enthalpies left out: no compound has a LAM enthalpy' in notes
    # H3S has a DFT enthalpy (its relaxation), and the campaign's H: S is missing
    assert (
        'Convex hull of S-H at 200 GPa with DFT enthalpies left out: the hull of S-H has no elemental reference for S'
    ) in notes
    assert f'α²F of CaYH12 Pm-3m ({nodes["CaYH12"].uuid[:8]}) left out' in notes and 'not in this profile' in notes

    page, images, svgs = _page_sources(result.index)
    assert len(images) == len(svgs) == 6
    for source in images + svgs:
        assert not source.startswith(('/', 'file:')), source  # relative paths: the folder moves as it is
        assert (result.index.parent / source).is_file(), source
    for note in result.skipped:  # every note is on the page
        assert note.replace('&', '&amp;').replace("'", '&#x27;') in page
    assert 'Highest computed Tc: 210 K (H3S' in page
    # the funnel counts: 6 hydrides, 4 within the LAM hull, 3 past the phonons, 2 with a DFT verdict, 3 predicted ...
    assert re.search(r'<td class="text">screen: E_hull\(LAM\)</td><td>4</td>', page)
    assert re.search(r'<td class="text">EPC computed</td><td>4</td>', page)

    # the α²F figure of YH6 is the a2f output of the EPC work chain its record names
    assert orm.load_node(uuid=H3S_EPC_UUID).outputs.a2f.get_x()[1].size > 10

    # a second report into the same folder replaces the figures
    (result.index.parent / 'figures' / 'stale.png').write_bytes(b'old')
    again = write_report(group.label, result.index.parent)
    assert sorted(path.stem for path in (result.index.parent / 'figures').glob('*.png')) == sorted(again.figures)


def test_report_without_epc_says_why_figures_are_left_out(tmp_path):
    from aiida_hydrides.report import write_report

    _, nodes = make_campaign(with_h3s=False)
    group = orm.Group(label=f'{nodes["Ca"].uuid[:8]}/no-epc').store()
    group.add_nodes([nodes[formula] for formula in ('Ca', 'Y', 'H', 'CaH4', 'YH4')])
    result = write_report(group, tmp_path)
    assert set(result.figures) == {'funnel', 'hull_lam_Ca-Y-H_200GPa'}
    notes = '\n'.join(result.skipped)
    assert 'with DFT enthalpies left out: no compound has a DFT enthalpy' in notes
    assert 'Tc against E_hull left out: no candidate has both a computed Tc and an E_hull' in notes
    assert 'α²F figures left out: no candidate has a finished electron-phonon calculation yet' in notes


def test_dft_hull_of_the_subsystem_whose_references_were_computed(tmp_path):
    """The cascade computes DFT only within its survivors' subsystems: with DFT for Y, H and YH6 but not for Ca, the
    DFT hull of Y-H is drawn, and says why it is not that of Ca-Y-H."""
    from test_candidates import REFERENCES, _structure

    from aiida_hydrides.extras import tag_node
    from aiida_hydrides.report import write_report

    _, nodes = make_campaign(with_h3s=False)
    calcium = _structure('Ca')  # a Ca minimum of the LAM search, never relaxed with DFT
    tag_node(
        calcium,
        kind='search_minimum',
        method='lam',
        formula='Ca',
        system='Ca-Y',
        pressure_gpa=200.0,
        enthalpy_lam_ev=REFERENCES['lam']['Ca'],
        natoms=1,
    )
    group = orm.Group(label=f'{nodes["Y"].uuid[:8]}/dft-subsystem').store()
    group.add_nodes([calcium, *(nodes[formula] for formula in ('Y', 'H', 'YH6', 'CaH6'))])
    result = write_report(group, tmp_path)
    assert {'hull_lam_Ca-Y-H_200GPa', 'hull_dft_Y-H_200GPa'} <= set(result.figures)
    page = (tmp_path / 'index.html').read_text()
    assert (
        'Convex hull of Y-H at 200 GPa with DFT enthalpies (3 structures; the Y-H subsystem: no DFT enthalpy of Ca)'
        in page
    )


def test_cli_report(campaign, tmp_path):
    from click.testing import CliRunner

    from aiida_hydrides.cli import cli

    group, _ = campaign
    runner = CliRunner()
    result = runner.invoke(cli, ['report', group.label, '-o', str(tmp_path / 'out'), '--json'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['candidates'] == 6 and len(data['figures']) == 6 and (tmp_path / 'out' / 'index.html').is_file()

    result = runner.invoke(cli, ['report', group.label, '-o', str(tmp_path / 'text')])
    assert result.exit_code == 0, result.output
    assert '6 candidate(s), 6 figure(s)' in result.output and 'index.html' in result.output

    (tmp_path / 'file').write_text('')
    for args, message in (
        (['test/campaign/no-such-group'], "no group 'test/campaign/no-such-group'"),
        ([group.label, '-o', str(tmp_path / 'file')], 'is a file'),
    ):
        result = runner.invoke(cli, ['report', *args])
        assert result.exit_code == 2, result.output
        assert message in result.output and 'Traceback' not in result.output


def _browser():
    """A headless Chromium driven by selenium, or a skip (a failure in CI) naming what is missing."""
    missing = [name for name in ('chromium', 'chromedriver') if shutil.which(name) is None]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append('selenium (pip install -e ".[dev]")')
    if missing:
        message = f'the headless-browser check needs {", ".join(missing)} (scripts/install_system.sh)'
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which('chromium')
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'):
        options.add_argument(argument)
    options.add_argument('--allow-file-access-from-files')
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which('chromedriver')))


_IMAGES = """
return Array.from(document.images).map(img => [img.getAttribute('src'), img.complete, img.naturalWidth,
                                                img.naturalHeight]);
"""
_SVGS = """
const done = arguments[arguments.length - 1];
const links = Array.from(document.querySelectorAll('figcaption a')).map(a => a.href);
Promise.all(links.map(href => new Promise(resolve => {
    const img = new Image();
    img.onload = () => resolve([href, img.naturalWidth, img.naturalHeight]);
    img.onerror = () => resolve([href, 0, 0]);
    img.src = href;
}))).then(done);
"""


def test_report_renders_in_a_headless_browser(campaign, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    from aiida_hydrides.report import write_report

    group, _ = campaign
    result = write_report(group, tmp_path / 'report')
    # the page is read where it lies, by its file URL: the relative paths must work from there
    driver = _browser()
    try:
        driver.set_script_timeout(30)
        driver.get(result.index.resolve().as_uri())
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script(
                'return document.readyState === "complete" && Array.from(document.images).every(img => img.complete)'
            )
        )
        assert driver.title == f'aiida-hydrides campaign report: {group.label}'
        images = driver.execute_script(_IMAGES)
        assert len(images) == len(result.figures) == 6
        for source, complete, width, height in images:
            assert complete and width > 100 and height > 100, f'{source} did not render ({width}x{height})'
        svgs = driver.execute_async_script(_SVGS)
        assert len(svgs) == 6
        for href, width, height in svgs:
            assert width > 100 and height > 100, f'{href} did not render ({width}x{height})'
        skipped = driver.execute_script('return Array.from(document.querySelectorAll("p.skipped")).length')
        assert skipped == len(result.skipped) > 0
    finally:
        driver.quit()
