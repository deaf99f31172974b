"""The engine session a request runs in: database, settings, tenant filter, readonly.

Pure, no I/O. A chDB connection keeps its session settings, so the service
configures each connection once for one :class:`SessionSpec` (by running
:func:`setup_statements` in order) and only ever reuses it for that same spec.
``readonly`` is applied last: after it, not even the service can change the
session (ClickHouse refuses every ``SET``/``SETTINGS`` under readonly=1).

URL settings: the service principal may send any setting (the engine judges
it). The operator and tenants, being readonly=1 like a ClickHouse user with a
readonly profile, may only send the harmless ones in :data:`READONLY_SETTINGS`
(output shaping and limits that only restrict); any other gets ClickHouse's
``Cannot modify '<name>' setting in readonly mode`` (READONLY). A tenant's
``max_execution_time`` is at most :data:`TENANT_MAX_EXECUTION_TIME_S`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from somagent.analytics.errors import error
from somagent.analytics.principals import Principal
from somagent.analytics.request import HttpQuery

TENANT_MAX_EXECUTION_TIME_S: Final = 60
READONLY_SETTINGS: Final = frozenset(
    [
        "max_result_rows",
        "max_result_bytes",
        "result_overflow_mode",
        "max_execution_time",
        "timeout_overflow_mode",
        "max_rows_to_read",
        "max_bytes_to_read",
        "read_overflow_mode",
        "max_block_size",
        "extremes",
        "join_use_nulls",
        "session_timezone",
        "final",
        "limit",
        "offset",
        "date_time_output_format",
        "date_time_input_format",
        "output_format_json_quote_64bit_integers",
        "output_format_json_quote_64bit_floats",
        "output_format_json_quote_denormals",
        "output_format_json_quote_decimals",
        "output_format_json_escape_forward_slashes",
        "output_format_json_named_tuples_as_objects",
        "output_format_json_validate_utf8",
        "output_format_write_statistics",
        "output_format_pretty_max_rows",
        "output_format_pretty_color",
        "output_format_pretty_grid_charset",
        "output_format_csv_crlf_end_of_line",
        "output_format_tsv_crlf_end_of_line",
        "output_format_decimal_trailing_zeros",
        "output_format_arrow_string_as_string",
        "output_format_parquet_string_as_string",
        "format_csv_delimiter",
    ]
)


_SETTING_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SessionSpec:
    """Everything a pooled connection was configured with (its pool key)."""

    database: str
    settings: tuple[tuple[str, str], ...] = ()
    tenant: str | None = None
    readonly: int = 0


def quote(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _readonly_denied(who: str, name: str) -> None:
    raise error("READONLY", f"{who}: Cannot modify '{name}' setting in readonly mode")


def session_spec(principal: Principal, query: HttpQuery, database: str) -> SessionSpec:
    """The session ``query`` runs in for ``principal``; ``database`` is the service's.

    Raises:
        ClickHouseError: a setting the principal may not change (READONLY), a tenant
            limit above its cap (SETTING_CONSTRAINT_VIOLATION), a tenant naming
            another database (ACCESS_DENIED).
    """
    db = query.database or database
    settings = dict(query.settings)
    for name in settings:
        if _SETTING_NAME.match(name) is None:
            raise error("UNKNOWN_SETTING", f"Unknown setting '{name}'")
    if principal.tenant is not None and db != database:
        raise error("ACCESS_DENIED", f"{principal.name}: tenants may use database {database} only")
    if not principal.readonly:
        readonly = 2 if query.readonly_method else 0
        if "readonly" in settings:
            value = settings.pop("readonly")
            if value not in ("0", "1", "2"):
                raise error("BAD_ARGUMENTS", f"readonly must be 0, 1 or 2, got {value!r}")
            readonly = max(readonly, int(value)) if value != "1" else 1
        return SessionSpec(db, tuple(sorted(settings.items())), None, readonly)
    for name, value in list(settings.items()):
        if name == "readonly":
            if value != "1":
                _readonly_denied(principal.name, name)
            del settings[name]
        elif name not in READONLY_SETTINGS:
            _readonly_denied(principal.name, name)
    if principal.tenant is not None and "max_execution_time" in settings:
        try:
            limit_s = float(settings["max_execution_time"])
        except ValueError as exc:
            raise error("BAD_ARGUMENTS", "max_execution_time must be a number") from exc
        if limit_s <= 0 or limit_s > TENANT_MAX_EXECUTION_TIME_S:
            raise error(
                "SETTING_CONSTRAINT_VIOLATION",
                f"Setting max_execution_time shouldn't be greater than "
                f"{TENANT_MAX_EXECUTION_TIME_S} (and not 0) for tenants",
            )
    return SessionSpec(db, tuple(sorted(settings.items())), principal.tenant, 1)


def tenant_filters(tenant: str, tables: frozenset[str]) -> str:
    """The ``additional_table_filters`` map restricting ``tables`` (``db.t``) to ``tenant``."""
    condition = quote(f"tenant = {quote(tenant)}")
    return "{" + ", ".join(f"{quote(t)}: {condition}" for t in sorted(tables)) + "}"


def setup_statements(spec: SessionSpec, tenant_tables: frozenset[str]) -> list[str]:
    """The statements that configure a fresh connection for ``spec``, in order."""
    out = [f"USE `{spec.database.replace('`', '')}`"]
    out += [f"SET {name} = {quote(value)}" for name, value in spec.settings]
    if spec.tenant is not None:
        out.append(f"SET additional_table_filters = {tenant_filters(spec.tenant, tenant_tables)}")
        if not any(name == "max_execution_time" for name, _ in spec.settings):
            out.append(f"SET max_execution_time = {TENANT_MAX_EXECUTION_TIME_S}")
    if spec.readonly:
        out.append(f"SET readonly = {spec.readonly}")
    return out
