"""What each principal may run, decided on the engine's own parse and resolution.

Pure, no I/O: the service feeds in what the engine reported (:mod:`explain`).

Isolation of a tenant is enforced by the engine, not by reading SQL text:

1. Every tenant query runs on a chDB connection of its own on which the service
   ran ``SET additional_table_filters = {'<db>.<t>': 'tenant = ''<uuid>''', ...}``
   for every tenant-visible table and then ``SET readonly = 1``. The engine
   applies the filters wherever a visible table is read (subqueries, CTEs,
   views, UNION, JOIN, IN, scalar subqueries); readonly=1 refuses every write,
   DDL, ``SET`` and ``SETTINGS`` override (additional_table_filters included).
2. What readonly=1 and the filters do not cover (other tables such as
   ``projector_positions``, ``system.*``, table functions such as ``merge()``,
   functions such as ``file()``, ``INTO OUTFILE``) is refused with ACCESS_DENIED
   before the query runs, in two steps: :func:`check_ast` on ``EXPLAIN AST``
   (the parse: nothing is read) and, for a SELECT, :func:`check_tree` on
   ``EXPLAIN QUERY TREE`` (the resolution: the tables the query really reads).
   The AST step exists because analysis already evaluates constant expressions
   and scalar subqueries; it must not see a function or table it would refuse.

The lists:

* tenant-visible tables: the DDL's tables and views with a ``tenant`` column,
  materialized views excluded (the service derives them from the engine after
  applying the DDL: ``events``, ``usage_minute``, ``usage_by_minute``,
  ``turn_step_latency``); every other table of the database is invisible.
* system tables a tenant may read: :data:`TENANT_SYSTEM_TABLES` (no data of
  any tenant: constants, settings of the tenant's own session, catalogues).
* table functions (tenants and operator): :data:`TABLE_FUNCTIONS`; every other
  table function the engine knows is refused (``merge``, ``remote``, ``url``,
  ``s3``, ``file``, ``input``, ``executable``, ``view``, ``cluster``...).
* functions (tenants and operator): :data:`DENIED_FUNCTIONS` and any name
  starting with :data:`DENIED_PREFIXES` (they read files, dictionaries, join
  tables, other tables' metadata or the server's configuration).
* statements: tenants run SELECT (WITH, UNION, INTERSECT, EXCEPT) and DESCRIBE;
  the operator also SHOW, EXISTS and EXPLAIN; anything else is READONLY.

The service principal is not restricted here (it writes the read models); INTO
OUTFILE is refused for everyone, as ClickHouse's HTTP interface does. The
statement-kind and INTO OUTFILE checks are not redundant with readonly=1: chDB
4.4 accepts ``SYSTEM STOP MERGES``, ``KILL QUERY`` and ``INTO OUTFILE`` (which
writes a file) under readonly=1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from somagent.analytics.errors import error
from somagent.analytics.explain import AstSummary, TreeSummary

TENANT_SYSTEM_TABLES: Final = frozenset(
    [
        "one",
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "settings",
        "functions",
        "formats",
        "data_type_families",
        "time_zones",
        "table_functions",
        "collations",
    ]
)
TABLE_FUNCTIONS: Final = frozenset(
    [
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "values",
        "generateseries",
        "generate_series",
        "null",
    ]
)
DENIED_FUNCTIONS: Final = frozenset(
    [
        "file",
        "hascolumnintable",
        "catboostevaluate",
        "evalmlmethod",
        "getclienthttpheader",
        "getserversetting",
        "getmergetreesetting",
        "filesystemavailable",
        "filesystemcapacity",
        "filesystemunreserved",
        "getmacro",
        "input",
    ]
)
DENIED_PREFIXES: Final = ("dict", "joinget")
_TENANT_ROOTS: Final = frozenset(
    {"SelectWithUnionQuery", "SelectIntersectExceptQuery", "DescribeQuery"}
)
_OPERATOR_ROOT_PREFIXES: Final = ("Select", "Describe", "Show", "Exists", "Explain")


@dataclass(frozen=True)
class Visibility:
    """What a tenant may read: ``tables`` as ``db.t`` and the database they live in."""

    database: str
    tables: frozenset[str]

    def qualified(self, name: str) -> str:
        """``name`` as written (``t``, ``db.t``, ``system.t``) as ``db.t``."""
        return name if "." in name else f"{self.database}.{name}"

    def readable(self, qualified: str) -> bool:
        """Whether a tenant may read the table ``qualified`` (``db.t``)."""
        db, _, table = qualified.partition(".")
        return qualified in self.tables or (db == "system" and table in TENANT_SYSTEM_TABLES)


def denied_function(name: str, table_functions: Iterable[str] = ()) -> bool:
    """Whether a readonly principal may not call ``name`` (lower case).

    ``table_functions`` are every table function the engine knows: one not in
    :data:`TABLE_FUNCTIONS` is refused wherever it appears.
    """
    if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
        return True
    return name in table_functions and name not in TABLE_FUNCTIONS


def _access_denied(who: str, what: str) -> None:
    raise error("ACCESS_DENIED", f"{who}: Not enough privileges: {what}")


def check_outfile(ast: AstSummary) -> None:
    """INTO OUTFILE is refused for everyone (it writes a file on the server)."""
    if ast.into_outfile:
        raise error("INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed")


def check_statement_kind(ast: AstSummary, who: str, tenant: bool) -> None:
    """Tenants: SELECT and DESCRIBE; operator: also SHOW, EXISTS, EXPLAIN; else READONLY."""
    allowed = ast.root in _TENANT_ROOTS if tenant else ast.root.startswith(_OPERATOR_ROOT_PREFIXES)
    if not allowed:
        raise error("READONLY", f"{who}: Cannot execute query in readonly mode")


def check_functions(ast: AstSummary, who: str, table_functions: frozenset[str]) -> None:
    """Every function the statement calls must be allowed (see the module docstring)."""
    for name in ast.functions:
        if denied_function(name, table_functions):
            _access_denied(who, f"function or table function {name}() is not allowed")


def check_ast(
    ast: AstSummary,
    who: str,
    visibility: Visibility,
    existing: frozenset[str],
    table_functions: frozenset[str],
) -> None:
    """Refuse a tenant statement, from its parse, that names anything invisible.

    Every table name written must be a visible table, an allowed system table,
    or an unqualified name that is no table of the database at all (so it can
    only be a WITH name: a WITH name that shadows an invisible table is refused).
    ``existing`` are the tables of the tenant's database (``db.t``).
    """
    check_outfile(ast)
    check_statement_kind(ast, who, tenant=True)
    check_functions(ast, who, table_functions)
    for name in ast.tables:
        qualified = visibility.qualified(name)
        if visibility.readable(qualified):
            continue
        if "." in name or qualified in existing:
            _access_denied(who, f"table {qualified} is not visible to tenants")


def check_tree(
    tree: TreeSummary, who: str, visibility: Visibility, table_functions: frozenset[str]
) -> None:
    """Refuse a tenant SELECT whose resolved tree reads anything invisible."""
    for table in tree.tables:
        if not visibility.readable(table):
            _access_denied(who, f"table {table} is not visible to tenants")
    for name in tree.table_functions:
        if name not in TABLE_FUNCTIONS:
            _access_denied(who, f"table function {name}() is not allowed")
    for name in tree.functions:
        if denied_function(name, table_functions):
            _access_denied(who, f"function {name}() is not allowed")
