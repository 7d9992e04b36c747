"""Splunk knowledge lives under lib/anchor/splunk/: the engine names no Splunk path or file format."""

from __future__ import annotations

import ast

from conftest import ROOT

ENGINE = ROOT / "lib" / "anchor"
# What only code that knows Splunk may say: its results files' multivalue
# columns, Splunk Web's and splunkd's paths, splunklib itself.
SPLUNK_ONLY = ("__mv_", "/app/anchor", "/servicesNS/", "/splunkd/__raw", "splunklib")


def _code_strings(tree: ast.AST) -> list[str]:
    """String constants and imported names, docstrings excluded."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found.append(node.value)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or "")
    return found


def test_the_engine_outside_anchor_splunk_knows_no_splunk_paths_or_formats():
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        if (ENGINE / "splunk") in path.parents:
            continue
        for text in _code_strings(ast.parse(path.read_text())):
            offenders += [f"{path.relative_to(ROOT)}: {t}" for t in SPLUNK_ONLY if t in text]
    assert not offenders, offenders
