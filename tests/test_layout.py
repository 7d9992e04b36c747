"""Splunk knowledge lives under lib/anchor/splunk/: the engine names no Splunk path or file format."""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import ROOT, cli_env

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


def test_the_offline_cli_and_the_narrators_load_without_the_optional_dependencies():
    """requests (LLM, webhook, OSS) and mcp are optional: they are imported where
    they are used, never by merely loading the CLI, the operations or a narrator."""
    modules = "anchor.cli, anchor.operations, anchor.narrate, anchor.investigate, anchor.backends"
    code = (
        f"import sys, {modules}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'requests', 'urllib3', 'mcp'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
