"""The maintenance modular input, run as splunkd runs it: --scheme, --validate-arguments, XML on stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bin" / "anchor_maintenance.py"


def run(args, stdin="", env=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def validation_xml(**params):
    items = "".join(f'<param name="{k}">{v}</param>' for k, v in params.items())
    return (
        "<items><server_host>sh1</server_host><server_uri>https://127.0.0.1:8089</server_uri>"
        f'<session_key>k</session_key><checkpoint_dir>/tmp</checkpoint_dir><item name="nightly">{items}</item></items>'
    )


def test_scheme_declares_external_validation():
    result = run(["--scheme"])
    assert result.returncode == 0
    assert "<title>Anchor maintenance</title>" in result.stdout
    assert "<use_external_validation>true</use_external_validation>" in result.stdout


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {
                "destination": "oss",
                "oss_bucket": "B",
                "oss_endpoint": "oss-cn-hangzhou.aliyuncs.com",
            },
            "invalid OSS bucket name",
        ),
        (
            {
                "destination": "oss",
                "oss_bucket": "backups",
                "oss_endpoint": "http://oss.example.com",
            },
            "must use https",
        ),
        ({"destination": "ftp"}, "destination must be local or oss"),
        ({"destination": "local", "local_dir": "../etc"}, "must be a folder name"),
        ({"destination": "local", "retention_days": "soon"}, "retention_days must be a number"),
        ({"destination": "local", "actions": "decay,explode"}, "actions must be a comma list"),
        ({"destination": "local", "interval": "every night"}, "neither seconds"),
        ({"destination": "local", "interval": "5"}, "neither seconds"),
    ],
)
def test_validation_rejects_bad_settings_with_a_clear_message(params, message):
    result = run(["--validate-arguments"], validation_xml(**params))
    assert result.returncode == 1
    assert message in result.stdout and "<error><message>" in result.stdout


@pytest.mark.parametrize("interval", ["86400", "30 2 * * *", "*/15 * * * 1-5"])
def test_validation_accepts_good_settings(interval):
    result = run(["--validate-arguments"], validation_xml(destination="local", interval=interval))
    assert result.returncode == 0, result.stdout


def test_a_run_decays_compacts_and_exports_and_logs_each_step(tmp_path, demo_files):
    db = tmp_path / "memory.db"
    assert run_cli("capture", "healthy", "--input", str(demo_files["calm"]), db=db).returncode == 0
    home = tmp_path / "splunk"
    env = {"PATH": "/usr/bin:/bin", "SPLUNK_HOME": str(home), "ANCHOR_STORE": f"sqlite:{db}"}
    config = (
        "<input><server_host>sh1</server_host><server_uri>https://127.0.0.1:8089</server_uri>"
        "<session_key>k</session_key><checkpoint_dir>/tmp</checkpoint_dir><configuration>"
        '<stanza name="anchor_maintenance://nightly"><param name="destination">local</param>'
        '<param name="local_dir">exports</param><param name="retention_days">30</param></stanza>'
        "</configuration></input>"
    )
    result = run([], config, env=env)
    assert result.returncode == 0, result.stderr
    exports = list(
        (home / "var" / "lib" / "anchor" / "exports" / "anchor-memory").glob("*.json.gz")
    )
    assert len(exports) == 1
    assert run_cli("maintenance", "verify", str(exports[0])).returncode == 0
    log = (home / "var" / "log" / "splunk" / "anchor_maintenance.log").read_text()
    for action in ("decay", "compact", "export"):
        assert f"action={action} status=ok" in log
    assert "anchor:maintenance" in result.stdout and '"status": "ok"' in result.stdout


def test_a_failed_step_is_reported_and_logged(tmp_path):
    home = tmp_path / "splunk"
    (home / "var" / "lib").mkdir(parents=True)
    (home / "var" / "lib" / "anchor").write_text("a file where the data folder should be")
    env = {
        "PATH": "/usr/bin:/bin",
        "SPLUNK_HOME": str(home),
        "ANCHOR_STORE": f"sqlite:{tmp_path / 'm.db'}",
    }
    config = (
        "<input><server_uri>https://127.0.0.1:8089</server_uri><session_key>k</session_key><configuration>"
        '<stanza name="anchor_maintenance://nightly"><param name="destination">local</param>'
        '<param name="actions">export</param></stanza></configuration></input>'
    )
    result = run([], config, env=env)
    log = (home / "var" / "log" / "splunk" / "anchor_maintenance.log").read_text()
    assert "action=export status=failed" in log
    assert '"status": "failed"' in result.stdout


def test_oss_destination_needs_stored_credentials_and_exports_to_oss(tmp_path, demo_files):
    from fakes.fake_oss import FakeOSS
    from fakes.fake_splunkd import FakeSplunkd

    db = tmp_path / "memory.db"
    assert run_cli("capture", "healthy", "--input", str(demo_files["calm"]), db=db).returncode == 0
    with FakeSplunkd() as splunkd, FakeOSS("anchor-backups", "AKID", "oss-secret-value") as oss:
        env = {
            "PATH": "/usr/bin:/bin",
            "SPLUNK_HOME": str(tmp_path / "splunk"),
            "ANCHOR_STORE": f"sqlite:{db}",
            "ANCHOR_SPLUNKD_CA": splunkd.ca_file(tmp_path),
            "REQUESTS_CA_BUNDLE": oss.ca_file(tmp_path),
        }
        params = {
            "destination": "oss",
            "oss_bucket": "anchor-backups",
            "oss_endpoint": oss.endpoint,
        }
        xml = (
            validation_xml(**params)
            .replace("https://127.0.0.1:8089", splunkd.uri)
            .replace(
                "<session_key>k</session_key>", f"<session_key>{splunkd.session_key}</session_key>"
            )
        )
        missing = run(["--validate-arguments"], xml, env=env)
        assert missing.returncode == 1 and "OSS credentials are missing" in missing.stdout
        splunkd.passwords = {
            "oss_access_key_id": "AKID",
            "oss_access_key_secret": "oss-secret-value",
        }
        assert run(["--validate-arguments"], xml, env=env).returncode == 0
        stanza = "".join(f'<param name="{k}">{v}</param>' for k, v in params.items())
        config = (
            f"<input><server_uri>{splunkd.uri}</server_uri><session_key>{splunkd.session_key}</session_key>"
            f'<configuration><stanza name="anchor_maintenance://nightly">{stanza}</stanza></configuration></input>'
        )
        result = run([], config, env=env)
        assert result.returncode == 0, result.stderr
        assert [k for k in oss.objects if k.startswith("anchor-memory/")], result.stdout
        log = (
            tmp_path / "splunk" / "var" / "log" / "splunk" / "anchor_maintenance.log"
        ).read_text()
        assert "action=export status=ok file=oss://anchor-backups/anchor-memory/" in log
        assert "oss-secret-value" not in log + result.stdout + result.stderr
