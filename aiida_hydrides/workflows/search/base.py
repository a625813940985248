"""``SearchBaseWorkChain``: structure searches of a list of compositions in ``SearchCalculation`` jobs, restarted on
what a job did not finish (walltime, memory, other failures), keeping what it did."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_hydrides.calculations.search import SearchCalculation
from aiida_hydrides.core.units import parse_pressure
from aiida_hydrides.workflows.protocols import ProtocolMixin

__all__ = ('SearchBaseWorkChain', 'load_model_node')

#: statuses of the compositions a stopped job did not finish (searched again), see the worker
UNFINISHED = ('interrupted', 'not_started')


def load_model_node(model) -> orm.SinglefileData:
    """``model`` as a ``SinglefileData``: a node is returned as is, a path is read (``ValueError`` if missing)."""
    import pathlib

    if isinstance(model, orm.SinglefileData):
        return model
    path = pathlib.Path(model)
    if not path.is_file():
        raise ValueError(f'the model file {path} does not exist')
    return orm.SinglefileData(path.resolve())


class SearchBaseWorkChain(ProtocolMixin, BaseRestartWorkChain):
    """Search the structures of a list of compositions with ``SearchCalculation`` jobs, restarting what a job left.

    The contract follows aiida-core's ``BaseRestartWorkChain``: the inputs of the job are in the ``search``
    namespace; a job that fails is inspected by the process handlers below (highest priority first), which either
    change the inputs of the next job and restart, or stop the work chain with an exit code; at most
    ``max_iterations`` jobs are run (then exit 401). A job never searches a composition again that an earlier job
    finished: each restart is given only the compositions still to do.

    Process handlers:

    - ``handle_invalid_input`` (job exits 320-324: model, unknown element, input, composition, atom budget): a
      restart would fail the same way; exit 310.
    - ``handle_out_of_walltime`` (job exit 400 ``ERROR_OUT_OF_WALLTIME``, or the scheduler's 120): the job stopped at
      its time limit (``max_wall_s``, by default the walltime less a margin) or on SIGTERM and kept the compositions
      it finished; restart on the unfinished ones (status ``not_started`` / ``interrupted`` in its summary). A job that
      finished no composition at all gives exit 311 (a composition takes longer than the walltime).
    - ``handle_out_of_memory`` (job exit 401 ``ERROR_OUT_OF_MEMORY``, or the scheduler's 110): restart on the
      unfinished compositions with half the relaxation batch (``batch_size``; when unset, the largest generation,
      ``population`` or ``initial_population``); exit 312 when it is already 1.
    - ``handle_search_outcome`` (job exits 410 no usable relaxation, 411 some compositions failed): the job searched
      every composition it was given; no restart (the failures follow from the settings), the work chain ends and
      reports them.
    - ``handle_unknown_failure`` (any other failure, e.g. 300/301 results missing or unreadable, a node failure):
      one restart on the unfinished compositions; a second such failure gives exit 313.

    Outputs: the ``samples``, ``minima`` and ``summary`` of every job that produced them, in the namespaces of the
    same names keyed by the job's call link label (``iteration_01``, ``iteration_02``, ...): three nodes per job, the
    jobs' own outputs (no copies, no per-structure nodes). A finished composition is ``finished`` in exactly one job's
    summary; an earlier job may list it as ``not_started`` or ``interrupted``.

    Exit codes besides aiida-core's (301 job excepted, 302 job killed, 401 maximum iterations, 402 unhandled
    failure): 310 refused input, 311 no progress within the walltime, 312 out of memory at batch_size 1, 313 a second
    unexplained failure, 410 the search failed for some compositions, 411 no composition gave a usable relaxation.
    The outputs of the jobs that finished are attached in every case.
    """

    _process_class = SearchCalculation
    _protocol_name = 'search/base'

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.expose_inputs(SearchCalculation, namespace='search')
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        for name, port in SearchCalculation.spec().outputs.items():
            if name in ('samples', 'minima', 'summary'):
                spec.output_namespace(
                    name,
                    valid_type=port.valid_type,
                    dynamic=True,
                    help=f'The `{name}` output of every job, keyed by its call link label.',
                )

        spec.exit_code(
            310,
            'ERROR_INVALID_JOB_INPUT',
            message='SearchCalculation<{pk}> refused its input ({status}: {message}); a restart cannot help.',
        )
        spec.exit_code(
            311,
            'ERROR_NO_PROGRESS',
            message='SearchCalculation<{pk}> ran out of time before it finished any composition '
            '({formulas}); raise max_wallclock_seconds.',
        )
        spec.exit_code(
            312, 'ERROR_OUT_OF_MEMORY', message='SearchCalculation<{pk}> ran out of memory with batch_size 1.'
        )
        spec.exit_code(
            313,
            'ERROR_REPEATED_FAILURE',
            message='SearchCalculation<{pk}> failed ({status}: {message}) after a restart for an earlier failure.',
        )
        spec.exit_code(
            410,
            'ERROR_COMPOSITIONS_FAILED',
            message='The search failed for {formulas}; the outputs of the other compositions are attached.',
        )
        spec.exit_code(411, 'ERROR_NO_USABLE_RELAXATION', message='No composition gave a usable relaxation.')

    @classmethod
    def get_builder_from_protocol(
        cls, code, compositions, model, pressure=200.0, protocol=None, overrides=None, options=None, **_
    ):
        """Return a builder prepopulated with the inputs of ``protocol``.

        :param code: the ``hydrides-lam`` code (instance or label such as ``'hydrides-lam@localhost'``).
        :param compositions: the compositions to search (formulas or element -> count mappings).
        :param model: the DeePMD model, a ``SinglefileData`` or a file path.
        :param pressure: target pressure in GPa (a number or a string such as ``'200GPa'``).
        :param protocol: ``fast``, ``moderate`` (default) or ``precise`` (search budgets, see ``search/base.yaml``).
        :param overrides: dictionary overriding the protocol, e.g. ``{'search': {'parameters': {'budget': 50}}}``.
        :param options: ``metadata.options`` of every ``SearchCalculation`` (merged over the protocol's).
        :raises ValueError: for a bad pressure, a missing model file or an unknown protocol.
        """
        from aiida_hydrides.workflows.protocols import recursive_merge

        if isinstance(code, str):
            code = orm.load_code(code)
        model = load_model_node(model)
        pressure = parse_pressure(pressure)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        search = inputs['search']
        metadata = search.get('metadata', {})
        if options:
            metadata['options'] = recursive_merge(metadata.get('options', {}), options)

        builder = cls.get_builder()
        builder.search.code = code
        builder.search.model = model
        builder.search.compositions = orm.List(list(compositions))
        builder.search.parameters = orm.Dict({**search.get('parameters', {}), 'pressure_gpa': pressure})
        builder.search.metadata = metadata
        builder.max_iterations = orm.Int(inputs['max_iterations'])
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        return builder

    # -- steps ---------------------------------------------------------------------------------------------------
    def setup(self):
        """Take the job inputs from the ``search`` namespace; nothing is finished yet."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(SearchCalculation, 'search'))
        self.ctx.statuses = {}  # reduced formula -> status in the latest job that listed it
        self.ctx.n_minima = 0
        self.ctx.unknown_failures = 0

    def inspect_process(self):
        """Attach the outputs of the job that just ended and record its compositions, then call the handlers."""
        node = self.ctx.children[self.ctx.iteration - 1]
        if 'summary' in node.outputs:
            label = f'iteration_{self.ctx.iteration:02d}'
            for name in ('samples', 'minima', 'summary'):
                if name in node.outputs:
                    self.out(f'{name}.{label}', node.outputs[name])
            for entry in node.outputs.summary.get('compositions', []):
                self.ctx.statuses[entry['formula']] = entry.get('status')
                self.ctx.n_minima += entry.get('n_minima') or 0
        return super().inspect_process()

    def results(self):
        """Report the compositions and check them: the outputs are attached job by job in ``inspect_process``."""
        statuses = self.ctx.statuses
        counts = {status: list(statuses.values()).count(status) for status in dict.fromkeys(statuses.values())}
        self.report(f'work chain completed after {self.ctx.iteration} job(s): {counts}')
        failed = [formula for formula, status in statuses.items() if status == 'failed']
        if failed:
            return self.exit_codes.ERROR_COMPOSITIONS_FAILED.format(formulas=', '.join(failed))
        if self.ctx.n_minima == 0:
            return self.exit_codes.ERROR_NO_USABLE_RELAXATION
        return None

    # -- handlers ------------------------------------------------------------------------------------------------
    def _unfinished(self, node) -> list:
        """The compositions of ``node`` to search again: those its summary lists as unfinished, or all its
        compositions when it has no summary."""
        if 'summary' not in node.outputs:
            return node.inputs.compositions.get_list()
        return [
            entry['formula']
            for entry in node.outputs.summary.get('compositions', [])
            if entry.get('status') in UNFINISHED
        ]

    def _restart(self, node, compositions, action: str) -> ProcessHandlerReport:
        self.report(f'{node.process_label}<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
        self.report(f'Action taken: {action}; searching again {", ".join(map(str, compositions))}')
        self.ctx.inputs.compositions = orm.List(compositions)
        return ProcessHandlerReport(True)

    @process_handler(
        priority=600,
        exit_codes=[
            SearchCalculation.exit_codes[label]
            for label in (
                'ERROR_MODEL',
                'ERROR_UNKNOWN_ELEMENT',
                'ERROR_INVALID_INPUT',
                'ERROR_INVALID_COMPOSITION',
                'ERROR_ATOM_BUDGET',
            )
        ],
    )
    def handle_invalid_input(self, node):
        """The job refused its input: a restart would fail the same way."""
        return ProcessHandlerReport(
            True,
            self.exit_codes.ERROR_INVALID_JOB_INPUT.format(
                pk=node.pk, status=node.exit_status, message=node.exit_message
            ),
        )

    @process_handler(
        priority=500,
        exit_codes=[
            SearchCalculation.exit_codes.ERROR_OUT_OF_WALLTIME,
            SearchCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME,
        ],
    )
    def handle_out_of_walltime(self, node):
        """The job stopped for lack of time: restart on the compositions it did not finish."""
        unfinished = self._unfinished(node)
        finished = (
            [
                entry['formula']
                for entry in node.outputs.summary.get('compositions', [])
                if entry.get('status') not in UNFINISHED
            ]
            if 'summary' in node.outputs
            else []
        )
        if not unfinished:
            self.report(f'{node.process_label}<{node.pk}> ran out of walltime but lists no unfinished composition')
            self.ctx.is_finished = True
            return ProcessHandlerReport(True)
        if not finished:
            return ProcessHandlerReport(
                True, self.exit_codes.ERROR_NO_PROGRESS.format(pk=node.pk, formulas=', '.join(map(str, unfinished)))
            )
        return self._restart(node, unfinished, f'kept {", ".join(finished)}')

    @process_handler(
        priority=450,
        exit_codes=[
            SearchCalculation.exit_codes.ERROR_OUT_OF_MEMORY,
            SearchCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_MEMORY,
        ],
    )
    def handle_out_of_memory(self, node):
        """The job ran out of memory: restart on the unfinished compositions with half the relaxation batch."""
        from aiida_hydrides.core.search.worker import settings_from_parameters

        parameters = self.ctx.inputs.parameters.get_dict() if 'parameters' in self.ctx.inputs else {}
        settings, _ = settings_from_parameters(parameters)
        current = settings.batch_size or max(settings.population, settings.initial_population or 0)
        if current <= 1:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_OUT_OF_MEMORY.format(pk=node.pk))
        parameters['batch_size'] = current // 2
        self.ctx.inputs.parameters = orm.Dict(parameters)
        return self._restart(node, self._unfinished(node), f'batch_size {current} -> {current // 2}')

    @process_handler(
        priority=400,
        exit_codes=[
            SearchCalculation.exit_codes.ERROR_NO_USABLE_RELAXATION,
            SearchCalculation.exit_codes.ERROR_COMPOSITIONS_FAILED,
        ],
    )
    def handle_search_outcome(self, node):
        """The job searched every composition it was given, some without result: no restart; ``results`` reports."""
        self.report(f'{node.process_label}<{node.pk}>: {node.exit_message}')
        self.ctx.is_finished = True
        return ProcessHandlerReport(True)

    @process_handler(priority=0)
    def handle_unknown_failure(self, node):
        """Any other failure: one restart on the unfinished compositions, then exit 313."""
        if not node.is_failed:
            return None
        self.ctx.unknown_failures += 1
        if self.ctx.unknown_failures > 1:
            return ProcessHandlerReport(
                True,
                self.exit_codes.ERROR_REPEATED_FAILURE.format(
                    pk=node.pk, status=node.exit_status, message=node.exit_message
                ),
            )
        return self._restart(node, self._unfinished(node), 'unexplained failure, one restart')
