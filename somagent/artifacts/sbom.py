"""CycloneDX SBOMs of an agent's tool dependencies (cyclonedx-python-lib).

:func:`sbom_for` builds a CycloneDX 1.6 JSON document listing Python
distributions (name, version, ``pkg:pypi`` purl); :func:`sbom_of_installed`
takes the versions from this environment's installed distributions, which is
what a publisher runs before signing a manifest. :func:`validate_sbom` checks an
SBOM against the CycloneDX JSON schema of its ``specVersion`` with the library's
strict validator and returns its component count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from somagent.artifacts.exceptions import InvalidArtifact

_VERSIONS = {
    "1.4": SchemaVersion.V1_4,
    "1.5": SchemaVersion.V1_5,
    "1.6": SchemaVersion.V1_6,
}


def sbom_for(packages: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A CycloneDX 1.6 SBOM (as a JSON object) of ``(distribution, version)`` pairs."""
    bom = Bom()
    for name, version in sorted(set(packages)):
        purl = PackageURL("pypi", None, name.lower(), version)
        bom.components.add(
            Component(name=name, version=version, type=ComponentType.LIBRARY, purl=purl,
                      bom_ref=purl.to_string())
        )
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    return document


def sbom_of_installed(distributions: Iterable[str]) -> dict[str, Any]:
    """An SBOM of the named distributions at the versions installed here.

    Raises:
        InvalidArtifact: a distribution is not installed.
    """
    found = []
    for name in distributions:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError as exc:
            raise InvalidArtifact(f"distribution {name!r} is not installed") from exc
    return sbom_for(found)


def validate_sbom(document: Mapping[str, Any]) -> int:
    """The number of components of a valid CycloneDX JSON SBOM.

    Raises:
        InvalidArtifact: not CycloneDX, an unsupported ``specVersion`` (1.4-1.6), or a
            document that fails the schema (the library's message is named).
    """
    if document.get("bomFormat") != "CycloneDX":
        raise InvalidArtifact("sbom.bomFormat must be 'CycloneDX'")
    spec = document.get("specVersion")
    if spec not in _VERSIONS:
        raise InvalidArtifact(f"sbom.specVersion must be one of {sorted(_VERSIONS)}, got {spec!r}")
    error = JsonStrictValidator(_VERSIONS[str(spec)]).validate_str(json.dumps(document))
    if error is not None:
        message = getattr(getattr(error, "data", None), "message", str(error))
        raise InvalidArtifact(f"sbom is not valid CycloneDX {spec}: {message}")
    return len(document.get("components") or [])
