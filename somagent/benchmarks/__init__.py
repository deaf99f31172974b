"""``somagent bench``: run every ``bench/*.py``, report each figure next to its baseline.

* :mod:`~somagent.benchmarks.runner` runs the scripts as subprocesses (time-limited)
  and collects their JSON;
* :mod:`~somagent.benchmarks.figures` turns each script's JSON into rows
  (figure, baseline measured in the same run, ratio) — pure, no I/O;
* :mod:`~somagent.benchmarks.report` builds the report JSON and the Markdown table;
* :mod:`~somagent.benchmarks.plots` draws the PNGs;
* :mod:`~somagent.benchmarks.profile` summarises a py-spy profile as text.
"""
