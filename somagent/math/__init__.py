"""somagent.math: pure numerics (no I/O, no imports from the rest of the project).

* :mod:`~somagent.math.queueing`: Erlang B/C, M/M/k metrics and wait quantiles,
  server sizing for an SLO, brownout admission.
* :mod:`~somagent.math.routing`: graph Laplacian potentials and electrical routing.
* :mod:`~somagent.math.conductance`: the conductance autoscaling step.
* :mod:`~somagent.math.assignment`: capacity-aware min-cost assignment.
* :mod:`~somagent.math.hrr`: holographic reduced representations.
* :mod:`~somagent.math.capacity`: a JSON capacity report combining the above.

Invalid input raises ``ValueError`` with a message naming the argument.
"""

from somagent.math.assignment import Assignment, assign
from somagent.math.capacity import capacity_report
from somagent.math.conductance import ConductanceState, update
from somagent.math.queueing import (
    SLO,
    Decision,
    QueueMetrics,
    brownout,
    brownout_for,
    erlang_c,
    mmk_metrics,
    servers_for_slo,
)
from somagent.math.routing import Graph, Route, potentials, route

__all__ = [
    "SLO",
    "Assignment",
    "ConductanceState",
    "Decision",
    "Graph",
    "QueueMetrics",
    "Route",
    "assign",
    "brownout",
    "brownout_for",
    "capacity_report",
    "erlang_c",
    "mmk_metrics",
    "potentials",
    "route",
    "servers_for_slo",
    "update",
]
