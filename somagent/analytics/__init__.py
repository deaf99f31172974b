"""Analytics: the embedded ClickHouse engine served over ClickHouse's HTTP interface.

One process (``somagent serve analytics``) owns the chDB directory and serves it
to everyone else; :class:`~somagent.analytics.client.HttpClickHouse` is the
client every other process uses (against this service or a ClickHouse server).
See docs/analytics.md.
"""
