"""The live console (``/console`` on the edge): operators' and tenant admins' panels.

``viewer`` (who is looking: the operator or one tenant; the signed console cookie),
``histograms`` (quantiles from Prometheus histograms, pure), ``read_models`` (the
ClickHouse panels), ``ledger`` (the Postgres panels), ``services`` (the roles'
state, lag and metrics from ``run/platform.json``), ``snapshot`` (one JSON
document of every panel), ``routes`` (the pages and endpoints) and ``static/``
(the page; the charting library is copied into ``static/vendor`` at build time by
``infra/console-assets.sh``). See ``docs/console.md``.
"""
