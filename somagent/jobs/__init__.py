"""Jobs: multi-agent DAGs of turns, tool calls, approvals and sub-jobs, run on Temporal."""
