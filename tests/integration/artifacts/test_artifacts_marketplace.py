"""The marketplace against the real stack and the real turn engine (``somagent serve
worker``): publish → install → mint for the agent → turn → update → revoke; the ranking
follows real measured turns; the artifact read models replay equal (``replay --verify``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from artifact_helpers import Signer, signer
from edge_eventsource import messages
from edge_helpers import Session, read_topic_async
from integration.engine.engine_helpers import WorkerProcess

from somagent.artifacts.publisher import agent_manifest, signed
from somagent.artifacts.ranking import p95, wilson_lower
from somagent.events.catalog import ARTIFACTS, CONVERSATION
from somagent.kafka.schema_log import kafka_codec
from somagent.policy.defaults import DEFAULT_POLICY
from somagent.projections.clickhouse import connect
from somagent.projections.replay import replay_clickhouse, replay_postgres
from somagent.projections.run import ProjectorThreads
from somagent.stack.stack import RunningStack
from somagent.wait import until, until_async

pytestmark = pytest.mark.integration
SLOW = "```python\nimport time\ntime.sleep(3)\nprint('slept')\n```"


@pytest.fixture(scope="module")
def worker(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    proc = WorkerProcess(stack.settings, tmp_path_factory.mktemp("worker")).start()
    try:
        yield
    finally:
        proc.stop()
        print(proc.tail(60))


@pytest.fixture(scope="module")
def projectors(stack: RunningStack) -> Iterator[ProjectorThreads]:
    threads = ProjectorThreads(stack.settings, prefix="art-", budgets=False)
    yield threads
    threads.stop()


def capsule_doc(capsule_id: str) -> dict[str, Any]:
    return {"kind": "capsule", "id": capsule_id, "version": "1.0.0", "name": "Tax notes",
            "memory_blocks": [{"id": "t1", "text": "VAT returns are filed every quarter."}]}


def manifest(agent_id: str, version: str, capsule_id: str | None, sla_ms: int = 60_000,
             tools: tuple[str, ...] = ("calc", "python")) -> dict[str, Any]:
    return agent_manifest(
        agent_id, version, name="Tax helper", persona=f"You are {agent_id} {version}.",
        policy=DEFAULT_POLICY, tools=tools,  # a session needs an active policy
        capsules=[(capsule_id, "1.0.0")] if capsule_id else [],
        planner={"kind": "deterministic", "sla_ms": sla_ms},
        dependencies=["jsonschema"],
        jobs=[{"name": "monthly", "steps": [
            {"name": "collect", "kind": "tool", "tool": "calc"},
            {"name": "report", "kind": "turn", "depends_on": ["collect"]}]}],
    )


async def mint_agent(client: httpx.AsyncClient, who: Signer, agent_id: str) -> httpx.Response:
    return await client.post("/v1/session/mint", headers=who.admin, json={
        "tenant": who.tenant.tenant, "agent": agent_id,
        "budgets": {"tokens": 100_000, "tools_per_min": 60}})


def session_of(who: Signer, r: httpx.Response) -> Session:
    assert r.status_code == 200, r.text
    return Session(who.tenant.tenant, r.json()["session_id"], r.json()["jwt"])


async def turn(client: httpx.AsyncClient, session: Session, text: str = "What is 2 + 2?"
               ) -> tuple[str, list[str]]:
    body = {"session_id": session.session, "inputs": {"text": text}}
    async with client.stream("POST", "/v1/turn", json=body, headers=session.auth) as r:
        assert r.status_code == 200, await r.aread()
        turn_id = r.headers["x-turn-id"]
        names = [m.event async for m in messages(r)]
    return turn_id, names


async def publish(client: httpx.AsyncClient, who: Signer, doc: dict[str, Any],
                  path: str = "/v1/agents/publish") -> dict[str, Any]:
    r = await client.post(path, headers=who.admin, json=signed(doc, who.key, fmt="yaml"))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_publish_install_mint_turn_update_revoke(
    stack: RunningStack, client: httpx.AsyncClient, worker: None, projectors: ProjectorThreads
) -> None:
    publisher = await signer(stack, client, "publisher")
    installer = await signer(stack, client, "installer")
    follower = await signer(stack, client, "follower")
    capsule_id, agent_id = f"tax-{uuid.uuid4().hex[:6]}", f"taxbot-{uuid.uuid4().hex[:6]}"
    r = await client.post("/v1/memory/capsule/upload", headers=publisher.admin,
                          json=signed(capsule_doc(capsule_id), publisher.key))
    assert r.status_code == 201, r.text
    await publish(client, publisher, manifest(agent_id, "1.0.0", capsule_id))
    # A forged manifest (persona does not match its hash) is refused.
    bad = {**manifest(agent_id, "9.0.0", capsule_id), "persona": "tampered"}
    r = await client.post(f"/v1/agents/{agent_id}/update", headers=publisher.admin,
                          json=signed(bad, publisher.key))
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-artifact"), r.text

    assert (await mint_agent(client, installer, agent_id)).status_code == 403
    r = await client.post(f"/v1/agents/{agent_id}/install", headers=installer.admin, json={})
    assert r.status_code == 200 and r.json()["version"] == "1.0.0", r.text
    r = await client.post(f"/v1/agents/{agent_id}/install", headers=follower.admin,
                          json={"auto_update": True})
    assert r.status_code == 200, r.text
    minted = session_of(installer, await mint_agent(client, installer, agent_id))
    claims = jwt.decode(minted.jwt, options={"verify_signature": False})
    expected = manifest(agent_id, "1.0.0", capsule_id)
    assert claims["persona_hash"] == expected["persona_hash"]
    assert claims["policy_hash"] == expected["policy_hash"]
    assert claims["agent"] == {"id": agent_id, "version": "1.0.0", "tools": ["calc", "python"]}
    assert claims["capsules"] == [capsule_id]
    # The agent's capsule was copied into the installing tenant's memory.
    r = await client.post("/v1/memory/recall", headers=minted.auth,
                          json={"query": "VAT returns", "capsule_ids": [capsule_id]})
    assert r.status_code == 200 and r.json()["evidence"], r.text

    turn_id, names = await turn(client, minted)
    assert names[-1] == "done" and "answer" in names, names
    codec = kafka_codec(stack.settings)
    requested = await read_topic_async(stack.settings, codec, CONVERSATION, lambda e: (
        e["type"] == "TurnRequested" and str(e["turn"]) == turn_id))
    assert (requested[0]["payload"]["agent"], requested[0]["payload"]["agent_version"]) == (
        agent_id, "1.0.0")

    await publish(client, publisher, manifest(agent_id, "1.1.0", capsule_id),
                  f"/v1/agents/{agent_id}/update")
    detail = (await client.get(f"/v1/agents/{agent_id}", headers=installer.admin)).json()
    assert detail["latest_version"] == "1.1.0" and detail["installed"]["version"] == "1.0.0"
    followed = (await client.get(f"/v1/agents/{agent_id}", headers=follower.admin)).json()
    assert followed["installed"]["version"] == "1.1.0"  # opted into auto-update
    r = await client.post(f"/v1/agents/{agent_id}/install", headers=installer.admin,
                          json={"version": "1.1.0"})
    assert r.json()["reason"] == "update"
    moved = session_of(installer, await mint_agent(client, installer, agent_id))
    assert jwt.decode(moved.jwt, options={"verify_signature": False})["agent"]["version"] == "1.1.0"

    # Revoke while a slow turn (the python tool sleeps 3 s) is in flight: it finishes.
    async def slow() -> list[str]:
        return (await turn(client, moved, SLOW))[1]

    in_flight = asyncio.create_task(slow())
    # Revoke once the python tool runs (it then sleeps 3 s), so the turn is in flight.
    await read_topic_async(stack.settings, codec, CONVERSATION, lambda e: (
        e["type"] == "ToolCallRequested" and str(e["session"]) == moved.session), want=1)
    assert (await client.post(f"/v1/agents/{agent_id}/revoke", headers=installer.admin,
                              json={})).status_code == 403
    r = await client.post(f"/v1/agents/{agent_id}/revoke", headers=publisher.admin,
                          json={"reason": "test"})
    assert r.status_code == 200 and r.json()["installs_disabled"] == 2, r.text
    assert (await asyncio.wait_for(in_flight, 120))[-1] == "done"
    r = await mint_agent(client, installer, agent_id)
    assert r.status_code == 403 and r.json()["type"].endswith("/agent-revoked")
    body = {"session_id": moved.session, "inputs": {"text": "What is 1 + 1?"}}
    r = await client.post("/v1/turn", json=body, headers=moved.auth)
    assert r.status_code == 403 and r.json()["type"].endswith("/agent-revoked")
    r = await client.post(f"/v1/agents/{agent_id}/install", headers=follower.admin, json={})
    assert r.status_code == 409
    kinds = [e["type"] for e in await read_topic_async(
        stack.settings, codec, ARTIFACTS, lambda e: e["payload"].get("agent_id") == agent_id,
        want=7)]
    assert kinds == ["AgentPublished", "AgentInstalled", "AgentInstalled", "AgentUpdated",
                     "AgentInstalled", "AgentInstalled", "AgentRevoked"], kinds
    _marked_after_revoke(stack, projectors, agent_id)


def _caught_up(stack: RunningStack, threads: ProjectorThreads) -> None:
    from somagent.kafka.admin import end_offsets, partitions_of
    from somagent.projections import chproj, postgres

    ends = {"postgres": end_offsets(stack.settings, partitions_of(stack.settings, postgres.TOPICS)),
            "clickhouse": end_offsets(stack.settings, partitions_of(stack.settings, chproj.TOPICS))}

    def done() -> bool:
        if threads.failure is not None:
            raise threads.failure
        return all(all(threads.stats[n].positions.get(tp, 0) >= end for tp, end in want.items())
                   for n, want in ends.items())

    until(done, timeout_s=120, what="artifact test projectors caught up")


def _marked_after_revoke(stack: RunningStack, threads: ProjectorThreads, agent_id: str) -> None:
    _caught_up(stack, threads)
    ch = connect(stack.settings)
    rows = ch.query("SELECT turn, agent_version FROM agent_turns_after_revoke "
                    "WHERE agent = {a:String}", {"a": agent_id})
    turns = ch.query("SELECT turn, agent_version, requested_us, completed_us "
                     "FROM agent_version_turns WHERE agent = {a:String}", {"a": agent_id})
    trails = {r["turn"]: ch.query(
        "SELECT type, ts_us, event_id, producer FROM events WHERE turn = {t:String} "
        "ORDER BY ts_us", {"t": r["turn"]}) for r in rows}
    assert [r["agent_version"] for r in rows] == ["1.1.0"], (rows, turns, trails)


async def test_ranking_follows_measured_turns_and_replay_verifies(
    stack: RunningStack, client: httpx.AsyncClient, worker: None, projectors: ProjectorThreads
) -> None:
    publisher = await signer(stack, client, "ranked-publisher")
    fast, slow = f"fast-{uuid.uuid4().hex[:6]}", f"tight-{uuid.uuid4().hex[:6]}"
    # Same engine, same turns; "tight" promises a 1 ms SLA that no real turn meets.
    await publish(client, publisher, manifest(fast, "1.0.0", None, sla_ms=60_000))
    await publish(client, publisher, manifest(slow, "1.0.0", None, sla_ms=1))
    turns: dict[str, list[str]] = {fast: [], slow: []}
    for agent in (fast, slow):
        r = await client.post(f"/v1/agents/{agent}/install", headers=publisher.admin, json={})
        assert r.status_code == 200, r.text
        session = session_of(publisher, await mint_agent(client, publisher, agent))
        for i in range(3):
            turn_id, names = await turn(client, session, f"What is {i} + 2?")
            assert names[-1] == "done", names
            turns[agent].append(turn_id)
    _caught_up(stack, projectors)
    codec = kafka_codec(stack.settings)
    done = await read_topic_async(stack.settings, codec, CONVERSATION, lambda e: (
        e["type"] == "TurnCompleted" and str(e["turn"]) in turns[fast] + turns[slow]), want=6)
    durations = {a: [int(e["payload"]["duration_ms"]) for e in done if str(e["turn"]) in t]
                 for a, t in turns.items()}

    async def ranked() -> list[dict[str, Any]]:
        r = await client.get("/v1/agents?sort=rank&window_s=3600", headers=publisher.admin)
        assert r.status_code == 200, r.text
        return [x for x in r.json()["ranking"] if x["agent_id"] in turns]

    await until_async(lambda: _six(ranked), timeout_s=60, what="six measured turns ranked")
    ranking = await ranked()
    assert [x["agent_id"] for x in ranking] == [fast, slow]
    top, bottom = ranking
    assert (top["turns"], top["good_turns"], top["sla_breaches"]) == (3, 3, 0)
    assert (bottom["turns"], bottom["good_turns"], bottom["sla_breaches"]) == (3, 0, 3)
    assert top["score"] == round(wilson_lower(3, 3), 6) and bottom["score"] == 0.0
    assert top["p95_latency_ms"] == p95(durations[fast])
    assert bottom["p95_latency_ms"] == p95(durations[slow])
    assert top["cost_per_turn_cents"] > 0
    view = connect(stack.settings).query(
        "SELECT agent, turns, good FROM agent_version_ranking WHERE agent IN ({a:String}, "
        "{b:String})", {"a": fast, "b": slow})
    assert [(r["agent"], int(r["turns"]), int(r["good"])) for r in view] == [
        (fast, 3, 3), (slow, 3, 0)]
    pg = await replay_postgres(stack.settings, verify=True, live_name="art-postgres")
    ch = await asyncio.to_thread(replay_clickhouse, stack.settings, verify=True,
                                 live_name="art-clickhouse")
    for report in (pg, ch):
        for table in report.tables:
            assert table.equal, (table.table, table.missing[:3], table.extra[:3],
                                 table.different[:3])
    assert {"artifacts", "artifact_versions", "agent_installs"} <= {t.table for t in pg.tables}


async def _six(ranked: Any) -> bool:
    return sum(x["turns"] for x in await ranked()) == 6
