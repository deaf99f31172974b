# The platform's decision rules (OPA policy id "somagent-gate"): one decision per gate call.
#
# input: {"policy_hash": "sha256-…", "action": "mint" | "tool" | "memory.read" | "memory.write",
#         "tenant": "…", "tool": "…", "arguments": {…}, "egress_hosts": ["…"],
#         "capsules": ["…"], "budgets": {"tokens": n, "tools_per_min": n}}
# data.somagent.policies[hash]: the `data` of each *active* policy (pushed on activation,
# removed on revocation); data.somagent.custom.p_<hex>.deny: a policy's own Rego rules.
package somagent.gate

import rego.v1

policy := data.somagent.policies[input.policy_hash]

custom_id := concat("", ["p_", substring(input.policy_hash, 7, -1)])

default decision := {"allow": false, "rules": ["policy-not-active"]}

decision := {"allow": count(denials) == 0, "rules": sort([r | some r in denials])} if policy

tool_allowed if "*" in policy.tools.allowed

tool_allowed if input.tool in policy.tools.allowed

denials contains "tool-not-allowed" if {
	input.action == "tool"
	not tool_allowed
}

denials contains "tool-arguments-too-large" if {
	input.action == "tool"
	count(json.marshal(object.get(input, "arguments", {}))) > policy.tools.max_argument_chars
}

host_allowed(host) if host in policy.egress.hosts

host_allowed(host) if {
	some pattern in policy.egress.hosts
	startswith(pattern, "*.")
	endswith(host, substring(pattern, 1, -1))
}

denials contains "egress-host-not-allowed" if {
	input.action == "tool"
	some host in object.get(input, "egress_hosts", [])
	not host_allowed(host)
}

denials contains "memory-write-not-allowed" if {
	input.action == "memory.write"
	policy.memory.mode != "read-write"
}

denials contains "memory-read-not-allowed" if {
	input.action in {"memory.read", "memory.write"}
	policy.memory.mode == "off"
}

capsule_allowed(capsule) if "*" in object.get(policy.memory, "capsules", ["*"])

capsule_allowed(capsule) if capsule in object.get(policy.memory, "capsules", ["*"])

denials contains "capsule-not-allowed" if {
	input.action in {"mint", "memory.read", "memory.write"}
	some capsule in object.get(input, "capsules", [])
	not capsule_allowed(capsule)
}

denials contains "token-budget-over-cap" if {
	input.action == "mint"
	input.budgets.tokens > policy.budgets.max_tokens
}

denials contains "tools-per-min-over-cap" if {
	input.action == "mint"
	input.budgets.tools_per_min > policy.budgets.max_tools_per_min
}

denials contains rule if {
	some rule in data.somagent.custom[custom_id].deny
}
