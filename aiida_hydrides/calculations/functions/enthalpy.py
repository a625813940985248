"""Calcfunction ``hydrides.dft.enthalpy.compute``: the enthalpy per atom at the target pressure from a pw.x SCF."""

from aiida import orm
from aiida.engine import calcfunction

from aiida_hydrides.core.units import EV_PER_A3_IN_GPA

__all__ = ('compute_enthalpy',)


@calcfunction
def compute_enthalpy(parameters, trajectory, structure, pressure, **metadata_inputs):
    """Compute the enthalpy per atom at the target ``pressure`` (GPa) from a pw.x SCF.

    :param parameters: ``output_parameters`` of the SCF (``energy`` in eV).
    :param trajectory: ``output_trajectory`` of the SCF, with the ``stress`` tensor in GPa.
    :param structure: the structure of the SCF.
    :param pressure: the target pressure (GPa) used for the ``P V`` term.
    :param metadata_inputs: optional ``Str`` nodes ``protocol`` and ``pseudo_family`` copied into the summary.
    :return: ``enthalpy_per_atom`` (eV/atom), ``pressure`` (final pressure, GPa), ``stress`` (GPa) and the summary
        ``output_parameters``.
    """
    import numpy as np

    natoms = len(structure.sites)
    energy = parameters['energy']
    volume = structure.get_cell_volume()
    stress = np.array(trajectory.get_array('stress')[-1], dtype=float)
    final_pressure = float(np.trace(stress) / 3.0)
    pv = pressure.value * volume / EV_PER_A3_IN_GPA
    enthalpy_per_atom = (energy + pv) / natoms

    stress_node = orm.ArrayData()
    stress_node.set_array('stress', stress)
    stress_node.base.attributes.set('units', 'GPa')

    summary = {
        'enthalpy_per_atom_eV': enthalpy_per_atom,
        'energy_per_atom_eV': energy / natoms,
        'pv_per_atom_eV': pv / natoms,
        'volume_per_atom_A3': volume / natoms,
        'target_pressure_GPa': pressure.value,
        'final_pressure_GPa': final_pressure,
        'number_of_atoms': natoms,
        'formula': structure.get_formula(mode='hill_compact'),
        'protocol': metadata_inputs['protocol'].value if 'protocol' in metadata_inputs else None,
        'pseudo_family': metadata_inputs['pseudo_family'].value if 'pseudo_family' in metadata_inputs else None,
    }
    return {
        'enthalpy_per_atom': orm.Float(enthalpy_per_atom),
        'pressure': orm.Float(final_pressure),
        'stress': stress_node,
        'output_parameters': orm.Dict(summary),
    }
