"""The built-in input providers, one module each, discovered by import.

Each public module registers one :class:`~miakit.pipeline.inputs.InputProvider` with
:func:`~miakit.pipeline.inputs.register_provider`: ``recall_prefix`` (the ReCaLL prefix
contexts), ``frequency`` (DC-PDD's token frequencies), ``neighbors`` (the neighborhood
attacks' neighbor NLLs), ``gradients`` (per-sample gradient norms of the target, for
``gradnorm``), ``augmentations`` (PAC's word-swapped copies, scored by the target) and
``calibration`` (hyperparameters chosen on ``--calibrate``).
"""
