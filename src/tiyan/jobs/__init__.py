"""The jobs: the pure core composed with the store — what the CLI, the API and the daily
cycle call.

Each job reads what it needs through the store's own code, runs pure functions of
:mod:`tiyan.metrics`, :mod:`tiyan.scoring` and :mod:`tiyan.policy` on the values, and writes
the result back through the store: ``scoring`` (the experience score of a date),
``enforce`` (the governance day, :func:`tiyan.policy.pipeline.evaluate_policy`), ``replay``
(a candidate policy judged by its outcome) and ``backtest`` (a policy change's consequences,
side by side).
"""
