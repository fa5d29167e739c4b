"""Auxiliary inputs of a run: prefix sets, a calibration set, a frequency corpus, neighbours.

:mod:`~miakit.auxiliary.inputs` maps what attacks declare to the options providing it;
:class:`~miakit.auxiliary.run.AuxiliaryRun` loads, checks and computes everything for the
runner.
"""
