"""The ``hydrides`` extra: one schema for every node aiida-hydrides tags, so that QueryBuilder filters never mix
methods.

Every tagged node carries one extra, ``hydrides`` (a dictionary), queried as ``extras.hydrides.<key>``:

========================  ==========================================================================================
key                       meaning
========================  ==========================================================================================
``kind``                  what the node is: ``search_minimum`` (a LAM search minimum), ``dft_relaxed`` (a structure
                          relaxed with pw.x), ``search`` (a search group), ``search_system`` (a search work chain),
                          ``epc`` (an EPC work chain launched by ``hydrides.epc.batch``), ...
``method``                ``lam`` or ``dft``: the method that made the structure and its enthalpy
``formula``               reduced formula of the composition (``CaH6``)
``cell_formula``          formula of the cell (``Ca2H12``)
``system``                the chemical system, ``A-B`` (LAM searches)
``pressure_gpa``          target pressure in GPa
``enthalpy_lam_ev``       LAM enthalpy per atom (eV/atom) at ``pressure_gpa``
``enthalpy_dft_ev``       DFT enthalpy per atom (eV/atom) at ``pressure_gpa``
``model``                 the LAM model, ``{filename, md5}`` (``method == 'lam'``)
``protocol``              the DFT protocol and pseudopotential family, ``{name, pseudo_family}`` (``method == 'dft'``)
``space_group_number``    space group number (spglib, symprec 0.1 Å)
``space_group_symbol``    its Hermann-Mauguin symbol
``natoms``                atoms in the cell
``source_uuid``           UUID of the structure this one was made from (a DFT relaxation of a LAM minimum)
``runner``                the process that runs a work chain launched in a command's own process: ``{hostname, pid,
                          started}`` (:mod:`aiida_hydrides.processes`; ``aiida-hydrides processes clean`` reads it)
``epc``                   on a structure computed by ``hydrides.epc.batch``: its latest result, ``{status, lambda,
                          omega_log_K, tc_allen_dynes_K_mu0_10, min_frequency_cm, n_imaginary_modes, settings_hash,
                          protocol, pressure_gpa, epc_uuid, batch_uuid, ...}`` (``status``: ``done``, ``unstable``,
                          ``failed`` or ``skipped``)
``settings_hash``         on an EPC work chain of a batch: fingerprint of the settings that decide its result
                          (:func:`aiida_hydrides.core.epc_batch.settings_hash`); a later batch with the same
                          fingerprint reuses a ``done`` or ``unstable`` one for the same ``source_uuid``
``relax_settings_hash``   on a structure relaxed by a batch: fingerprint of the relaxation's settings (reused by a later
                          batch with the same fingerprint)
``status``                on an EPC work chain of a batch: ``done``, ``unstable`` or ``failed``
========================  ==========================================================================================

The enthalpy of each method has its own key, so ``{'extras.hydrides.enthalpy_dft_ev': {'<': x}}`` never matches a
LAM value. Search minima add their search details (``e_above_best_mev``, ``rank``, ``origin``, ``generation``,
``flag``, ``duplicates``, ``sample_index``, ``calc_uuid``, ``workchain_uuid``). EPC work chains of a batch
(``kind == 'epc'``) add ``source_uuid`` (the batch's input structure), ``structure_uuid`` (the structure of the EPC, the
relaxed one), ``batch_uuid``, their λ, ω_log and ``tc_*`` values when done, ``n_imaginary_modes`` when unstable,
``exit_status`` when failed, and the wall times ``relax_wall_s`` and ``epc_wall_s``.
"""

from __future__ import annotations

__all__ = ('HYDRIDES_EXTRA', 'METHODS', 'ENTHALPY_KEYS', 'tag_node', 'get_tags', 'symmetry_tags')

#: name of the extra (a dictionary) holding the tags of aiida-hydrides, e.g. ``extras.hydrides.pressure_gpa``
HYDRIDES_EXTRA = 'hydrides'
#: the methods an enthalpy or a structure can come from
METHODS = ('lam', 'dft')
#: method -> key of its enthalpy per atom (eV/atom)
ENTHALPY_KEYS = {'lam': 'enthalpy_lam_ev', 'dft': 'enthalpy_dft_ev'}


def tag_node(node, replace: bool = False, **values):
    """Merge ``values`` into the ``hydrides`` extra of ``node`` (queried as ``extras.hydrides.<key>``).

    :param replace: drop the tags the node already has first. A structure that a calculation made by cloning its
        input (pw.x relaxations do) inherits the input's extras, e.g. the LAM tags of a search minimum: its own tags
        must replace them, not be merged into them.
    :raises ValueError: for a ``method`` other than ``lam`` or ``dft``.
    """
    method = values.get('method')
    if method is not None and method not in METHODS:
        raise ValueError(f'the method of a hydrides tag must be one of {METHODS}, got {method!r}')
    extras = {} if replace else dict(node.base.extras.get(HYDRIDES_EXTRA, None) or {})
    extras.update(values)
    node.base.extras.set(HYDRIDES_EXTRA, extras)


def get_tags(node) -> dict:
    """The ``hydrides`` extra of ``node`` (an empty dictionary when it has none)."""
    return dict(node.base.extras.get(HYDRIDES_EXTRA, None) or {})


def symmetry_tags(structure) -> dict:
    """``space_group_number``, ``space_group_symbol``, ``natoms`` and ``cell_formula`` of a ``StructureData``; the
    space group as the search tags its minima (:func:`aiida_hydrides.core.descriptors.space_group`, symprec 0.1 Å),
    P1 where spglib finds none."""
    from aiida_hydrides.core.descriptors import space_group
    from aiida_hydrides.core.errors import HydridesInputError

    atoms = structure.get_ase()
    try:
        number, symbol = space_group(atoms)
    except HydridesInputError:
        number, symbol = 1, 'P1'
    return {
        'space_group_number': number,
        'space_group_symbol': symbol,
        'natoms': len(atoms),
        'cell_formula': structure.get_formula(mode='hill_compact'),
    }
