"""Reading the engine's EXPLAIN AST and EXPLAIN QUERY TREE dumps (as chDB 26.9 prints them)."""

from __future__ import annotations

from somagent.analytics.explain import (
    dump_lines,
    parse_ast,
    summarize_ast,
    summarize_tree,
    unescape_tsv,
)

AST = """SelectWithUnionQuery (children 3)
 ExpressionList (children 1)
  SelectQuery (children 3)
   ExpressionList (children 2)
    Function FILE (children 1)
     ExpressionList (children 1)
      Literal \\'/etc/hostname\\\\n(children 1)\\'
    Identifier b (alias x)
   TablesInSelectQuery (children 2)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier somagent.events (alias e)
    TablesInSelectQueryElement (children 2)
     TableExpression (children 1)
      Function merge (alias m) (children 1)
       ExpressionList (children 2)
        Literal \\'somagent\\'
        Literal \\'^t$\\'
     TableJoin
   Function in (children 1)
    ExpressionList (children 2)
     Identifier x
     Identifier projector_positions
 Literal \\'/tmp/out\\'
 Identifier JSONEachRow
"""


def test_ast_summary() -> None:
    lines = dump_lines(AST)
    nodes = parse_ast(lines)
    assert nodes[0].kind == "SelectWithUnionQuery" and nodes[0].parent == -1
    table = next(n for n in nodes if n.kind == "TableIdentifier")
    assert (table.name, table.alias) == ("somagent.events", "e")
    summary = summarize_ast(nodes)
    assert summary.root == "SelectWithUnionQuery" and summary.is_select
    assert summary.output_format == "JSONEachRow" and summary.into_outfile
    assert summary.functions == ["file", "merge", "in"]
    assert summary.table_functions == ["merge"]
    assert summary.tables == ["somagent.events", "projector_positions"]


def test_escaped_literals_cannot_fake_nodes() -> None:
    lines = dump_lines("Literal 'a\\n TableIdentifier fake'\n")
    assert lines == ["Literal 'a\n TableIdentifier fake'"]
    assert unescape_tsv("a\\tb\\\\c\\'") == "a\tb\\c'"


def test_insert_into_function_and_other_roots() -> None:
    insert = summarize_ast(parse_ast(["InsertQuery   (children 1)", " Function file (children 1)"]))
    assert insert.is_insert and insert.table_functions == ["file"]
    show = summarize_ast(
        parse_ast(["ShowCreateTableQuery  events (children 1)", " Identifier events"])
    )
    assert show.root == "ShowCreateTableQuery" and show.output_format is None
    assert summarize_ast([]).root == ""


TREE = """QUERY id: 0
  PROJECTION
    LIST id: 1, nodes: 1
      FUNCTION id: 2, function_name: count, function_type: aggregate, result_type: UInt64
  JOIN TREE
    JOIN id: 3, strictness: ALL, kind: INNER
      LEFT TABLE EXPRESSION
        TABLE id: 4, alias: __table1, table_name: somagent.events
      RIGHT TABLE EXPRESSION
        QUERY id: 5, alias: __table2, is_subquery: 1, is_cte: 1, cte_name: usage_minute
          JOIN TREE
            TABLE_FUNCTION id: 6, alias: __table3, table_function_name: numbers
            TABLE id: 7, alias: __table4, table_name: system.one
"""


def test_tree_summary() -> None:
    tree = summarize_tree(dump_lines(TREE))
    assert tree.tables == ["somagent.events", "system.one"]
    assert tree.table_functions == ["numbers"]
    assert tree.functions == ["count"]
