# OPA's decision-log drop rule (OPA policy id "somagent-log-filter"; OPA consults
# data.system.log.drop for every decision before logging it): only the gates'
# decisions go to policy.decisions, not the constitution service's own reads of
# the Data API (its 5 s sync) or the stack's status probes.
package system.log

import rego.v1

drop if input.path != "somagent/gate/decision"
