"""What a statement names and what it resolves to, read from the engine's own dumps.

``EXPLAIN AST <statement>`` is the parser's tree: parsing only, nothing is read
or run. ``EXPLAIN QUERY TREE <select>`` is the analyzer's resolved tree: every
table a query reads (through CTEs, views, subqueries, IN, JOIN, UNION) appears
as a ``TABLE ... table_name: db.t`` node, every table function as
``TABLE_FUNCTION``, every function call as ``FUNCTION``. Note that analysis is
not side-effect free: it folds constants and runs scalar subqueries (so
``file('/etc/hostname')`` is read during EXPLAIN QUERY TREE), which is why the
service checks the AST before asking for the query tree.

Both dumps are requested in TabSeparated, one output row per dump line, so a
literal's line breaks arrive escaped and cannot fake a node. Pure, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_AST_LINE = re.compile(r"^( *)(\S+)(.*)$")
_CHILDREN = re.compile(r" \(children \d+\)$")
_ALIAS = re.compile(r" \(alias ([^()]*)\)$")
IN_FUNCTIONS = frozenset(
    [
        "in",
        "notin",
        "globalin",
        "globalnotin",
        "nullin",
        "notnullin",
        "globalnullin",
        "globalnotnullin",
    ]
)
# Statements whose result a client reads (ClickHouse's ASTQueryWithOutput): the
# direct children of their root after the query itself are INTO OUTFILE
# (a Literal), the FORMAT (an Identifier) and SETTINGS.
OUTPUT_ROOTS = ("SelectWithUnionQuery", "SelectIntersectExceptQuery", "Explain", "DescribeQuery")


def unescape_tsv(field_text: str) -> str:
    """One TabSeparated field as text (``\\n``, ``\\t``, ``\\\\``... resolved)."""
    table = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f", "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: table.get(m.group(1), m.group(1)), field_text)


def dump_lines(tsv: str) -> list[str]:
    """The lines of an EXPLAIN output received as TabSeparated."""
    return [unescape_tsv(row) for row in tsv.split("\n") if row]


@dataclass(frozen=True)
class AstNode:
    kind: str
    name: str
    alias: str
    depth: int
    parent: int  # index of the parent node, -1 for the root


def parse_ast(lines: list[str]) -> list[AstNode]:
    """The nodes of an ``EXPLAIN AST`` dump, in order, with their parents."""
    nodes: list[AstNode] = []
    stack: list[int] = []
    for line in lines:
        m = _AST_LINE.match(line)
        if m is None:
            continue
        depth, kind, rest = len(m.group(1)), m.group(2), _CHILDREN.sub("", m.group(3))
        alias = ""
        if (a := _ALIAS.search(rest)) is not None:
            alias, rest = a.group(1), rest[: a.start()]
        while stack and nodes[stack[-1]].depth >= depth:
            stack.pop()
        nodes.append(AstNode(kind, rest.strip(), alias, depth, stack[-1] if stack else -1))
        stack.append(len(nodes) - 1)
    return nodes


@dataclass
class AstSummary:
    """What the parser saw: statement kind, output format, INTO OUTFILE, names used.

    ``tables`` are table names as written (``t`` or ``db.t``: TableIdentifier nodes
    and the right side of ``x IN t``); ``functions`` every function name called,
    lower-cased, table functions included; ``table_functions`` those in a FROM/JOIN
    position or after ``INSERT INTO FUNCTION``.
    """

    root: str = ""
    output_format: str | None = None
    into_outfile: bool = False
    tables: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    table_functions: list[str] = field(default_factory=list)

    @property
    def is_select(self) -> bool:
        return self.root in ("SelectWithUnionQuery", "SelectIntersectExceptQuery")

    @property
    def is_insert(self) -> bool:
        return self.root == "InsertQuery"


def summarize_ast(nodes: list[AstNode]) -> AstSummary:
    """The :class:`AstSummary` of a parsed ``EXPLAIN AST`` dump."""
    out = AstSummary(root=nodes[0].kind if nodes else "")
    for i, node in enumerate(nodes):
        parent = nodes[node.parent] if node.parent >= 0 else None
        if node.parent == 0 and out.root in OUTPUT_ROOTS:
            if node.kind == "Literal":
                out.into_outfile = True
            elif node.kind == "Identifier":
                out.output_format = node.name
        if node.kind == "TableIdentifier":
            out.tables.append(node.name)
        elif node.kind == "Function":
            out.functions.append(node.name.lower())
            in_table_position = parent is not None and (
                parent.kind == "TableExpression" or (node.parent == 0 and out.root == "InsertQuery")
            )
            if in_table_position:
                out.table_functions.append(node.name.lower())
        elif node.kind == "Identifier" and _is_in_table(nodes, i):
            out.tables.append(node.name)
    return out


def _is_in_table(nodes: list[AstNode], i: int) -> bool:
    """Whether node ``i`` is the table operand of ``x IN t`` (its second argument)."""
    args = nodes[i].parent
    if args < 0 or nodes[args].kind != "ExpressionList" or nodes[args].parent < 0:
        return False
    func = nodes[nodes[args].parent]
    if func.kind != "Function" or func.name.lower() not in IN_FUNCTIONS:
        return False
    siblings = [j for j, n in enumerate(nodes) if n.parent == args]
    return len(siblings) == 2 and siblings[1] == i


_TREE_ATTR = re.compile(r"\b(table_name|table_function_name|function_name): ([^,\s]+)")


@dataclass
class TreeSummary:
    """What the analyzer resolved: tables (``db.t``), table functions and functions."""

    tables: list[str] = field(default_factory=list)
    table_functions: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)


def summarize_tree(lines: list[str]) -> TreeSummary:
    """The :class:`TreeSummary` of an ``EXPLAIN QUERY TREE`` dump."""
    out = TreeSummary()
    for line in lines:
        node = line.strip().split(" ", 1)[0]
        for attr, value in _TREE_ATTR.findall(line):
            if attr == "table_name" and node == "TABLE":
                out.tables.append(value)
            elif attr == "table_function_name" and node == "TABLE_FUNCTION":
                out.table_functions.append(value.lower())
            elif attr == "function_name" and node == "FUNCTION":
                out.functions.append(value.lower())
    return out
