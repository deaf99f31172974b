"""Small pure pieces: settings, the Temporal component's command line, the role plan, how
activity failures become step failures, the partitioner."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from somagent.config import load_settings
from somagent.exceptions import ConfigError
from somagent.jobs.keylog import partition_for
from somagent.jobs.steps import StepError, activity_failure, fail_step
from somagent.serve.roles import JOBS, plan
from somagent.stack.temporal import CLI_VERSION, Temporal, cli_path


def test_temporal_settings(tmp_path: Path) -> None:
    local = load_settings(home=tmp_path, temporal_port=17999)
    assert local.temporal_target == "127.0.0.1:17999"
    remote = load_settings(home=tmp_path, temporal_address="temporal:7233")
    assert remote.temporal_target == "temporal:7233"
    with pytest.raises(ConfigError, match="SOMAGENT_TEMPORAL_ADDRESS"):
        load_settings(home=tmp_path, temporal_address="no-port")


def test_dev_server_command_line(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, temporal_port=17999, cache_dir=tmp_path / "c")
    server = Temporal(settings)
    argv = server.argv(cli_path(settings))
    assert argv[:4] == [str(tmp_path / "c" / f"temporal-{CLI_VERSION}" / "temporal"),
                        "server", "start-dev", "--headless"]
    assert argv[argv.index("--ip") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "17999"
    assert argv[argv.index("--db-filename") + 1] == str(tmp_path / "temporal" / "temporal.db")
    assert not server.external
    assert Temporal(load_settings(home=tmp_path, temporal_address="t:1")).external


def test_plan_has_jobs_workers(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    roles = [i.name for i in plan(settings, workers=1, jobs=2)]
    assert roles.count(f"{JOBS}-0") == roles.count(f"{JOBS}-1") == 1
    assert not [i for i in plan(settings, workers=1, jobs=0) if i.role == JOBS]
    assert not [i for i in plan(settings, platform=False) if i.role == JOBS]
    with pytest.raises(ValueError, match="--jobs"):
        plan(settings, jobs=-1)


def _activity_error(cause: BaseException) -> ActivityError:
    err = ActivityError("activity failed", scheduled_event_id=1, started_event_id=2,
                        identity="w", activity_type="job.tool", activity_id="1",
                        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED)
    err.__cause__ = cause
    return err


def test_activity_failures_become_step_errors() -> None:
    failed = activity_failure(_activity_error(fail_step("tool-failed", "calc: 1/0", 3)), 5)
    assert (failed.reason, failed.message, failed.attempts) == ("tool-failed", "calc: 1/0", 3)
    permanent = fail_step("in-doubt", "x", 1, permanent=True)
    assert isinstance(permanent, ApplicationError) and permanent.non_retryable
    timed_out = activity_failure(_activity_error(
        TimeoutError("t", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])), 4)
    assert (timed_out.reason, timed_out.attempts) == ("timeout", 4)
    same = StepError("rejected", "no", 1)
    assert activity_failure(same, 1) is same


def test_partitioner_is_javas_murmur2() -> None:
    # Known values of Kafka's Utils.murmur2 (Java client DefaultPartitioner).
    assert partition_for("21", 6) == (-973932308 & 0x7FFFFFFF) % 6
    assert partition_for("foobar", 10) == (-790332482 & 0x7FFFFFFF) % 10
