"""Port validators shared by the work chains: each input is validated once, at its port, with one message."""

from __future__ import annotations

from aiida_hydrides.core.units import pressure_error

__all__ = (
    'CleanWorkdirMixin',
    'overrides_validator',
    'validate_non_negative',
    'validate_positive_int',
    'validate_pressure',
)


def validate_pressure(node, _):
    """Validate a ``pressure`` input (``Float``, GPa) with the project's one pressure range and message."""
    if node is not None:
        return pressure_error(float(node.value))
    return None


def validate_positive_int(value, _):
    """Validate an ``Int`` input, or a plain ``int`` of a non-db port, that must be a whole number >= 1."""
    if value is None:
        return None
    number = getattr(value, 'value', value)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return f'must be a whole number >= 1, got {number!r}'
    return None


def validate_non_negative(node, _):
    """Validate a ``Float`` input that must be >= 0."""
    if node is not None and not node.value >= 0:
        return f'must be >= 0, got {node.value}'
    return None


def overrides_validator(workchain_name: str, label: str | None = None):
    """A validator of a ``Dict`` input holding overrides of the protocol of the work chain ``workchain_name`` (entry
    point); its message starts with ``label`` (default: ``overrides of `<workchain_name>```)."""
    label = label or f'overrides of `{workchain_name}`'

    def validator(node, _):
        from aiida.plugins import WorkflowFactory

        if node is None:
            return None
        try:
            WorkflowFactory(workchain_name).check_overrides(node.get_dict())
        except ValueError as exception:
            return f'{label}: {exception}'
        return None

    return validator


class CleanWorkdirMixin:
    """Clean the remote folders of every calculation a work chain called, when its ``clean_workdir`` input is set."""

    def on_terminated(self):
        """Clean the remote folders of all calculations if ``clean_workdir`` is ``True``."""
        from aiida import orm

        super().on_terminated()
        if not self.inputs.clean_workdir.value:
            return
        cleaned = []
        for node in self.node.called_descendants:
            if isinstance(node, orm.CalcJobNode):
                try:
                    node.outputs.remote_folder._clean()  # noqa: SLF001
                    cleaned.append(str(node.pk))
                except (OSError, KeyError):
                    pass
        if cleaned:
            self.report(f'cleaned remote folders of calculations: {" ".join(cleaned)}')
