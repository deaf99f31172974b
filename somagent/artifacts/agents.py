"""Marketplace agents: publish, update, install (pin), uninstall, revoke.

Every change to one agent runs under the agent's lock (:func:`registry.locked`)
and appends its event to ``artifacts.events`` (keyed by agent id, ``seq`` = the
agent's event counter) before applying it to the read model, so the log holds
every act in the order it took effect.

* **Publish** (publisher's API key): the first version; the id must be new.
* **Update** (publisher): a new version. Installs do not move, except those that
  opted into ``auto_update``: each gets an ``AgentInstalled`` (reason
  ``auto-update``) for the new version, with its capsules materialised.
* **Install** (a tenant's API key): pins a version (default: the latest); calling
  it again with another version moves the pin (reason ``update``). The version's
  capsules are copied into the installing tenant's memory, scoped to each capsule.
* **Revoke** (publisher or operator): installs disabled, new sessions for it
  refused (mint 403 ``agent-revoked``), new turns in its sessions refused (Redis
  flag ``agent:revoked:{id}``); turns already requested finish, and ClickHouse's
  ``agent_turns_after_revoke`` view marks those that completed after the revoke.
"""

from __future__ import annotations

import json
from typing import Any

from somagent.api.call import PRODUCER, Call
from somagent.api.problems import Problem
from somagent.artifacts import canonical, capsules, registry
from somagent.artifacts.documents import AgentManifest, Capsule, capsule_of
from somagent.artifacts.exceptions import ArtifactError
from somagent.artifacts.intake import Intake
from somagent.artifacts.services import services
from somagent.artifacts.signing import parse_envelope
from somagent.contract import names
from somagent.contract.ids import stable_id
from somagent.events.envelope import make_event

REVOKED_FLAG = "agent:revoked:{}"


def _event(call: Call, kind: str, tenant: str, agent_id: str, seq: int, payload: dict[str, Any]
           ) -> dict[str, Any]:
    return make_event(kind, payload, tenant=tenant, producer=PRODUCER, trace_id=call.trace_id,
                      seq=seq, event_id=stable_id("artifact-event", "agent", agent_id, seq))


async def load_capsule(call: Call, row: dict[str, Any]) -> Capsule:
    """The capsule document of a stored version (digest checked by the blob store)."""
    try:
        raw = await services(call.ctx).blobs.get(row["blob_key"])
    except ArtifactError as exc:
        raise capsules.unavailable("artifact store", exc) from exc
    envelope = parse_envelope(json.loads(raw))
    document = canonical.parse(envelope.payload, canonical.media_kind(envelope.payload_type))
    return capsule_of(document)


async def _capsule_rows(conn: Any, publisher: str, manifest: AgentManifest
                        ) -> list[dict[str, Any]]:
    rows = []
    for capsule_id, version in manifest.capsules:
        head = await registry.artifact(conn, "capsule", capsule_id)
        row = await registry.version(conn, "capsule", capsule_id, version)
        if head is None or row is None or str(head["tenant_id"]) != publisher:
            raise Problem("invalid-artifact", f"capsule {capsule_id}@{version} is not a capsule "
                          "version uploaded by the publisher")
        if head["status"] == "revoked":
            raise Problem("artifact-revoked", f"capsule {capsule_id} was revoked")
        rows.append(row)
    return rows


def _manifest_payload(manifest: AgentManifest, intake: Intake, blob_key: str) -> dict[str, Any]:
    return {
        "agent_id": manifest.agent_id, "name": manifest.name, "version": manifest.version,
        "sha256": intake.sha256, "size_bytes": intake.payload_size_bytes,
        "key_id": intake.key_id, "blob_key": blob_key, "persona_hash": manifest.persona_hash,
        "policy_hash": manifest.policy_hash, "tools": list(manifest.tools),
        "capsule_ids": manifest.capsule_refs, "sbom_components": manifest.sbom_components,
        "sla_ms": manifest.sla_ms,
    }


def _check_head(row: dict[str, Any] | None, tenant: str, agent_id: str, update: bool) -> None:
    if row is None:
        if update:
            raise Problem("not-found", f"agent {agent_id} not found; publish it first")
        return
    capsules.check_owner(row, tenant, f"agent id {agent_id}")
    if row["status"] == "revoked":
        raise Problem("artifact-revoked", f"agent {agent_id} was revoked")


async def publish(call: Call, tenant: str, intake: Intake, manifest: AgentManifest, *,
                  update: bool) -> tuple[int, dict[str, Any]]:
    """Publish (``update`` False) or update an agent; (status, body)."""
    agent_id = manifest.agent_id
    async with registry.locked(call.ctx.pg, "agent", agent_id) as conn:
        row = await registry.artifact(conn, "agent", agent_id)
        _check_head(row, tenant, agent_id, update)
        existing = await registry.version(conn, "agent", agent_id, manifest.version)
        if existing is not None:
            if existing["sha256"] != intake.sha256:
                raise Problem("version-exists", f"agent {agent_id} version {manifest.version} "
                              f"exists with digest {existing['sha256']}")
            return 200, {"agent_id": agent_id, "version": manifest.version,
                         "sha256": intake.sha256, "created": False}
        if row is not None and not update:
            raise Problem("artifact-exists", f"agent {agent_id} exists; publish new versions "
                          f"with POST /v1/agents/{agent_id}/update")
        capsule_rows = await _capsule_rows(conn, tenant, manifest)
        try:
            blob_key = await services(call.ctx).blobs.put(intake.raw)
        except ArtifactError as exc:
            raise capsules.unavailable("artifact store", exc) from exc
        seq = int(row["last_seq"]) + 1 if row else 1
        payload = _manifest_payload(manifest, intake, blob_key)
        if row is None:
            events = [_event(call, names.AGENT_PUBLISHED, tenant, agent_id, seq, payload)]
        else:
            payload["previous_version"] = row["latest_version"]
            events = [_event(call, names.AGENT_UPDATED, tenant, agent_id, seq, payload)]
            events += await _auto_updates(call, conn, agent_id, manifest, capsule_rows, seq, tenant)
        await capsules.append_and_apply(call, conn, events)
    return 201, {"agent_id": agent_id, "version": manifest.version, "sha256": intake.sha256,
                 "blob_key": blob_key, "key_id": intake.key_id, "created": True,
                 "auto_updated": [str(e["tenant"]) for e in events[1:]]}


async def _materialise_for(call: Call, tenant: str, capsule_rows: list[dict[str, Any]]) -> None:
    for row in capsule_rows:
        if str(row["tenant_id"]) != tenant:  # the owner's memory has it already
            await capsules.materialise(call, tenant, await load_capsule(call, row))


async def _auto_updates(call: Call, conn: Any, agent_id: str, manifest: AgentManifest,
                        capsule_rows: list[dict[str, Any]], seq: int, publisher: str
                        ) -> list[dict[str, Any]]:
    events = []
    for inst in await registry.installs_of(conn, agent_id):
        if not inst["auto_update"] or inst["status"] != "installed":
            continue
        tenant = str(inst["tenant_id"])
        await _materialise_for(call, tenant, capsule_rows)
        seq += 1
        events.append(_event(call, names.AGENT_INSTALLED, tenant, agent_id, seq, {
            "agent_id": agent_id, "version": manifest.version, "publisher_tenant": publisher,
            "auto_update": True, "capsule_ids": manifest.capsule_refs, "reason": "auto-update",
        }))
    return events


async def install(call: Call, tenant: str, agent_id: str, version: str | None,
                  auto_update: bool) -> dict[str, Any]:
    """Pin ``agent_id`` at ``version`` (default: latest) for ``tenant``."""
    async with registry.locked(call.ctx.pg, "agent", agent_id) as conn:
        row = await registry.artifact(conn, "agent", agent_id)
        if row is None:
            raise Problem("not-found", f"agent {agent_id} not found")
        if row["status"] == "revoked":
            raise Problem("artifact-revoked", f"agent {agent_id} was revoked")
        chosen = version or row["latest_version"]
        vrow = await registry.version(conn, "agent", agent_id, chosen)
        if vrow is None:
            raise Problem("not-found", f"agent {agent_id} has no version {chosen}")
        refs = list(vrow["capsule_ids"])
        capsule_rows = []
        for ref in refs:
            capsule_id, _, capsule_version = ref.partition("@")
            head = await registry.artifact(conn, "capsule", capsule_id)
            if head is None or head["status"] == "revoked":
                raise Problem("artifact-revoked", f"capsule {capsule_id} of agent {agent_id} "
                              "was revoked")
            found = await registry.version(conn, "capsule", capsule_id, capsule_version)
            assert found is not None  # checked at publish; versions are never removed
            capsule_rows.append(found)
        await _materialise_for(call, tenant, capsule_rows)
        before = await registry.install(conn, tenant, agent_id)
        reason = "update" if before and before["status"] == "installed" else "install"
        payload = {"agent_id": agent_id, "version": chosen,
                   "publisher_tenant": str(row["tenant_id"]), "auto_update": auto_update,
                   "capsule_ids": refs, "reason": reason}
        event = _event(call, names.AGENT_INSTALLED, tenant, agent_id, int(row["last_seq"]) + 1,
                       payload)
        await capsules.append_and_apply(call, conn, [event])
    return {"agent_id": agent_id, "version": chosen, "auto_update": auto_update,
            "capsule_ids": refs, "status": "installed", "reason": reason}


async def uninstall(call: Call, tenant: str, agent_id: str, reason: str) -> dict[str, Any]:
    async with registry.locked(call.ctx.pg, "agent", agent_id) as conn:
        row = await registry.artifact(conn, "agent", agent_id)
        inst = await registry.install(conn, tenant, agent_id)
        if row is None or inst is None or inst["status"] != "installed":
            raise Problem("agent-not-installed", f"agent {agent_id} is not installed")
        event = _event(call, names.AGENT_UNINSTALLED, tenant, agent_id, int(row["last_seq"]) + 1,
                       {"agent_id": agent_id, "reason": reason})
        await capsules.append_and_apply(call, conn, [event])
    return {"agent_id": agent_id, "status": "uninstalled"}


async def revoke(call: Call, who_tenant: str | None, label: str, agent_id: str, reason: str
                 ) -> dict[str, Any]:
    """Revoke ``agent_id`` (``who_tenant`` None: the operator). Idempotent."""
    async with registry.locked(call.ctx.pg, "agent", agent_id) as conn:
        row = await registry.artifact(conn, "agent", agent_id)
        if row is None:
            raise Problem("not-found", f"agent {agent_id} not found")
        if who_tenant is not None:
            capsules.check_owner(row, who_tenant, f"agent {agent_id}")
        if row["status"] != "revoked":
            event = _event(call, names.AGENT_REVOKED, str(row["tenant_id"]), agent_id,
                           int(row["last_seq"]) + 1,
                           {"agent_id": agent_id, "reason": reason, "principal": label})
            await capsules.append_and_apply(call, conn, [event])
        await call.ctx.redis.set(REVOKED_FLAG.format(agent_id), "1")
        installs = await registry.installs_of(conn, agent_id)
    return {"agent_id": agent_id, "status": "revoked",
            "installs_disabled": sum(1 for i in installs if i["status"] == "revoked")}
