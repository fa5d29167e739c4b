"""``miakit run`` as a function: data -> signals -> attacks -> metrics -> outputs.

The Python API mirrors the CLI: ``miakit.run(model=..., members=..., nonmembers=..., out=...)``
accepts the same keys as the YAML config (see :class:`~miakit.config.RunConfig`) and returns a
:class:`RunResult`. In-memory models can be passed as ``scorers={"target": scorer}``.

The run names no attack and no input: it selects attacks by their declarations
(:mod:`miakit.pipeline.select`), and the registered input providers build what they need
(:mod:`miakit.pipeline.inputs`, :class:`~miakit.pipeline.auxiliary.AuxiliaryRun`).

The library prints nothing. Its messages go to the ``"miakit"`` logger (warnings at
``WARNING``, the rest at ``INFO``) and are kept in the :class:`RunResult`; progress is shown
only when asked for (``progress=True``, or a callback: :mod:`miakit._core.progress`). The
command line prints the summary itself (:mod:`miakit.cli._echo`).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from miakit._core import timing
from miakit._core.plugins import import_plugins
from miakit._core.progress import Progress, ProgressCallback, ProgressEvent
from miakit._core.version import __version__
from miakit.attacks import AttackOutput, SignalView
from miakit.attacks._registry import split_scorable
from miakit.backends.base import TokenScorer
from miakit.blind import check_options as check_integrity_options
from miakit.blind import evaluation_integrity, in_background, start_evaluation_integrity
from miakit.config import RunConfig, make_config, merge
from miakit.data import ValidationReport, load_inputs, validate
from miakit.errors import InvalidParameterError
from miakit.metrics import evaluate
from miakit.perturb import Perturber
from miakit.pipeline.auxiliary import AuxiliaryRun
from miakit.pipeline.documents import chunk_documents, document_sections
from miakit.pipeline.inputs import default_providers, given_stand_ins, unavailable
from miakit.pipeline.integrity_cache import IntegrityCache, integrity_key
from miakit.pipeline.outputs import (
    check_writable,
    run_warnings,
    samples_section_of,
    scored_nothing_warnings,
    setup_section,
    write_failed_message,
    write_metrics,
    write_outputs,
)
from miakit.pipeline.result import RunResult, WriteFailedError, log_summary
from miakit.pipeline.roles import (
    canonical_scorers,
    check_given_scorers,
    load_scorer,
    model_paths,
    role_aliases,
    shared_model_aliases,
)
from miakit.pipeline.select import check_params, select_attacks
from miakit.pipeline.sharded import compute_sharded
from miakit.results import RunRecord
from miakit.signals.cache import SignalCache
from miakit.signals.plan import EngineOptions, SignalPlanner
from miakit.signals.spec import BUILTIN_CONTEXTS

#: The run's messages: its warnings at WARNING, the skipped attacks, the output folder and
#: each shard's progress at INFO. The package attaches a NullHandler, so nothing is printed
#: unless the application configures logging (e.g. ``logging.basicConfig()``).
logger = logging.getLogger("miakit")

__all__ = ["ProgressEvent", "RunResult", "WriteFailedError", "run"]


def run(
    config: RunConfig | None = None,
    /,
    *,
    scorers: Mapping[str, TokenScorer] | None = None,
    perturber: Perturber | None = None,
    stand_ins: Mapping[str, Any] | None = None,
    write: bool = True,
    progress: bool | ProgressCallback = False,
    echo: bool | None = None,
    **fields: Any,
) -> RunResult:
    """Run the attacks and write the outputs; print nothing.

    Args:
        config: a :class:`RunConfig`; or give its fields as keyword arguments.
        scorers: in-memory backends by role (``"target"``, ``"reference"``, ``"performer"``,
            ``"observer"``, ``"sampling_model"``; any role of ``models:``), used instead of
            loading the configured paths. The old name ``"sampling"`` still works, with a
            ``DeprecationWarning``.
        perturber: generates the neighbors of ``neighborhood`` and ``neighborhood_causal``
            instead of the configured generators (:mod:`miakit.perturb`; it stands in for
            ``--fill-mask-model``); its identity is recorded in ``metrics.json``.
        stand_ins: in-memory objects by the name an input provider declares
            (``Input(stand_in=NAME)``), each used instead of the setting it stands in for;
            ``perturber=`` is the built-in one. An unknown name is an error.
        write: write ``scores.parquet``, ``samples.parquet``, ``metrics.json`` and
            ``config.resolved.yaml`` to ``config.out``.
        progress: ``False`` (default) shows nothing; ``True`` shows the command line's
            progress bars and messages on stderr; a callable receives each
            :class:`~miakit._core.progress.ProgressEvent` (stage, done, total, message) and
            nothing is drawn. This argument, not the config's ``progress`` key (which is
            the command line's setting), decides; the resolved config records whether
            bars were shown.
        echo: deprecated, and off: ``echo=True`` prints the leaderboard to stdout, with a
            :class:`DeprecationWarning`. Print ``result.leaderboard()`` yourself, or use the
            command line, which prints the whole summary.

    Returns:
        A :class:`RunResult`. Its ``warnings``, ``skipped`` and ``out_dir`` say what the
        command line prints; the warnings are also logged to the ``"miakit"`` logger.

    Raises:
        MiakitError: for every input and configuration problem, with a message naming the fix.
        WriteFailedError: when writing the outputs fails; ``.result`` holds the results.
    """
    timings = timing.for_run()  # metrics.json's setup.timings (miakit._core.timing)
    with timings.active():
        given = given_stand_ins(stand_ins, perturber=perturber)
        return _run(config, scorers, given, write, progress, echo, fields, timings)


def _run(
    config: RunConfig | None,
    scorers: Mapping[str, TokenScorer] | None,
    stand_ins: dict[str, Any],
    write: bool,
    progress: bool | ProgressCallback,
    echo: bool | None,
    fields: dict[str, Any],
    timings: timing.Timings,
) -> RunResult:
    """:func:`run`'s body, its stages timed into ``timings``."""
    validation = timings.stage("validation")
    validation.__enter__()
    default_providers()  # built-in and installed providers: their settings are config keys
    if config is None:
        config = make_config(fields)
    elif fields:
        config = make_config(merge(config.to_dict(), fields))
    tick = Progress.of(progress)
    if config.progress != tick.bars:  # the record says what was shown
        config = dataclasses.replace(config, progress=tick.bars)
    if echo:
        warnings.warn(
            "miakit.run(echo=True) is deprecated: the library prints nothing. Print "
            "result.leaderboard() (and result.warnings) yourself, or use the command line "
            "`miakit run`, which prints the whole summary.",
            DeprecationWarning,
            stacklevel=3,
        )
    scorers = canonical_scorers(scorers)  # old role names warn
    check_given_scorers(config, scorers)  # an adapter on an in-memory model: refused
    roles = set(scorers)
    roles |= {role for role, (path, _) in model_paths(config).items() if path is not None}
    if "target" not in roles:
        raise InvalidParameterError("no target model: pass --model PATH")
    aliases = {**role_aliases(roles), **shared_model_aliases(config, scorers, roles)}
    import_plugins(config.plugins)  # --plugin / plugins: their attacks register first
    specs, skipped = select_attacks(config, roles | set(aliases), stand_ins)
    check_params(config, specs)
    check_integrity_options(
        overlap_warn_fraction=config.overlap_warn_fraction,
        blind_permutations=config.blind_permutations,
        blind_alpha=config.blind_alpha,
    )

    samples = load_inputs(
        members=config.members,
        nonmembers=config.nonmembers,
        data=config.data,
        text_field=config.text_field,
        id_field=config.id_field,
        label_field=config.label_field,
        allow_overlap=config.allow_overlap,
    )
    samples, scorers = chunk_documents(config, samples, scorers)  # --doc-window (issue 13)
    report: ValidationReport = validate(samples, allow_overlap=True)  # already checked
    # before any model loads: hyperparameters no text can satisfy, folders we cannot write
    specs, unscorable = split_scorable(
        specs, config.attack_params, samples, max_length=config.max_length, asked=config.attacks
    )
    skipped.update(unscorable)
    if write:
        check_writable(Path(config.out))
    if not config.no_cache:
        check_writable(config.resolved_cache_dir(), flag="--cache-dir")
    validation.__exit__(None, None, None)
    # model-free checks of the member/non-member sets (blind baselines, near-duplicates): they
    # need only the samples, so they run on a background thread while the models load and
    # score where that pays (blind.in_background: a GPU target), else after the attacks
    integrity_options: dict[str, Any] = {
        "blind": config.blind,
        "seed": config.seed,
        "n_resamples": config.n_bootstrap,
        "n_permutations": config.blind_permutations,
        "alpha": config.blind_alpha,
        "overlap_warn_fraction": config.overlap_warn_fraction,
    }
    # a rerun on the same samples and settings reads them back (pipeline.integrity_cache)
    store = None if config.no_cache else IntegrityCache(config.resolved_cache_dir() / "integrity")
    key = integrity_key(samples, integrity_options) if store is not None else ""
    cached = store.read(samples, key) if store is not None else None
    background = not config.shard_size and in_background(_device_type(config, scorers))
    job = None
    if cached is None and background:
        job = start_evaluation_integrity(samples, **integrity_options)
    # the providers' inputs (prefixes, calibration...), checked against the evaluation samples
    with timings.stage("auxiliary"):
        aux = AuxiliaryRun.prepare(config, samples, stand_ins=stand_ins)
    cache = None if config.no_cache else SignalCache(config.resolved_cache_dir() / "signals")

    def scorer_for(role: str) -> TokenScorer:
        given = scorers.get(role)
        if given:
            return given
        with timings.stage(f"load:{role}"):  # the backend fingerprints the weights here too
            return load_scorer(config, role)

    planner = SignalPlanner(
        scorer_for=scorer_for,
        options=EngineOptions(
            max_length=config.max_length,
            batch_tokens=config.batch_tokens,
            chunk_tokens=config.chunk_tokens,
            bos=config.bos,
            packing=config.packing,
            prefix_reuse=config.prefix_reuse,
            cache=cache,
            progress=config.progress,
        ),
        contexts={**BUILTIN_CONTEXTS, **aux.contexts},
        aliases=aliases,
    )
    texts = samples.texts
    needs = [ref for spec in specs for ref in spec.needs]
    tick("signals", 0, len(texts))
    if config.shard_size:
        sharded = compute_sharded(config, planner, texts, needs, tick=tick)
        if sharded is None:  # a worker other than rank 0: its shards are written
            return RunResult(pd.DataFrame(), {"worker_done": True}, {}, samples, None)
        tables = sharded
    else:
        tables = planner.compute(texts, needs)
    tick("signals", len(texts), len(texts))
    models_meta = planner.models_meta()

    with timings.stage("auxiliary"):
        extras = aux.extras(planner, texts, specs, evaluation=list(samples))
        view = SignalView(tables, texts, n_samples=len(samples), extras=extras)
        params = aux.calibrate(planner, specs, config.attack_params)  # calibration set only
    outputs: dict[str, AttackOutput] = {}
    tick("attacks", 0, len(specs))
    with timings.stage("attacks"):
        for i, spec in enumerate(specs, 1):
            why = unavailable(spec, extras)  # a capability the backend lacks: skipped
            if why is not None:
                skipped[spec.name] = why
            else:
                outputs[spec.name] = spec(view, **params.get(spec.name, {}))
            tick("attacks", i, len(specs))

    labels = samples.label_array()
    attack_metrics: dict[str, Any] = {}
    tick("metrics", 0, len(outputs))
    with timings.stage("metrics"):
        for i, (name, out) in enumerate(outputs.items(), 1):
            attack_metrics[name] = evaluate(
                out.scores, labels, n_resamples=config.n_bootstrap, seed=config.seed
            )
            tick("metrics", i, len(outputs))
    record = RunRecord.of_run(samples, outputs, tables)  # positions meet ids here, once
    samples_section = samples_section_of(report, record)
    tick("integrity", 0, 1)  # sent from this thread only, also when the work is in the background
    if cached is not None:
        integrity = cached
    elif job is None:
        integrity = evaluation_integrity(samples, **integrity_options)
    else:
        with timings.stage("integrity_wait"):  # its own stages were timed on the worker
            integrity = job.result()  # re-raises the worker's exception, if any
    if cached is None and store is not None:
        store.write(key, integrity)
    tick("integrity", 1, 1)
    loud = scored_nothing_warnings(samples_section, attack_metrics)  # boxed on the terminal
    metrics = {
        "miakit_version": __version__,
        "setup": setup_section(config, samples, models_meta),
        "attacks": attack_metrics,
        **document_sections(config, record, planner),  # several samples per doc_id
        **integrity.sections,
        **aux.sections(),
        "skipped_attacks": skipped,
        "models": models_meta,
        "samples": samples_section,
        "warnings": integrity.warnings
        + aux.warnings
        + loud
        + run_warnings(samples_section, attack_metrics, max_length=config.max_length),
    }
    boxed = tuple(w for w in (integrity.blind_warning, *loud) if w)
    metrics["setup"]["timings"] = timings.as_dict()
    record = record.with_blind(integrity.blind_scores).with_metrics(metrics)
    frames = record.frames()
    result = RunResult(
        frames.scores, record.to_metrics(), outputs, samples, None, tables, frames.blind, boxed,
        record,
    )  # fmt: skip
    if write:
        tick("outputs", 0, 1)
        try:
            with timings.stage("outputs"):  # the report is its own stage, inside
                aux.write(Path(config.out), record.ids)
                result.out_dir = write_outputs(config, record)  # every file from the record
            record = record.with_timings(timings.as_dict())  # now with outputs and report
            write_metrics(Path(config.out), record)
            result.record, result.metrics = record, record.to_metrics()
        except OSError as exc:  # the signals are safe in the cache: say so, no traceback
            if echo:
                print(result.leaderboard())
            root = None if cache is None else config.resolved_cache_dir() / "signals"
            message = write_failed_message(Path(config.out), exc, root)
            raise WriteFailedError(message, result) from exc
        tick("outputs", 1, 1)
    log_summary(result)
    if echo:
        print(result.leaderboard())
    return result


def _device_type(config: RunConfig, scorers: Mapping[str, TokenScorer]) -> str:
    """Where the target model runs: ``"cuda"``, ``"cpu"``... (nothing is loaded to know it)."""
    given = scorers.get("target")
    if given is not None:
        return given.device.type
    if config.device == "auto":  # resolved as the models' (no torch import where it can be)
        from miakit.backends.placement import resolve

        records = None if config.no_cache else config.resolved_cache_dir() / "fingerprints"
        return resolve(config.device, config.dtype, record_dir=records).device.type
    return config.device.split(":")[0]
