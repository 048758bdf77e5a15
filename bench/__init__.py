"""``make bench``: the service measured on the real stack against the limit of its machinery.

``python -m bench`` starts private stacks (free ports), runs the workloads W0-W3 and W7, and
writes ``bench/results/latest.json``, charts under ``docs/bench/`` and a table appended to
``docs/bench/runs.md`` and put in ``docs/BENCHMARKS.md`` ("Latest run"). See
docs/BENCHMARKS.md for what each workload measures.
"""
