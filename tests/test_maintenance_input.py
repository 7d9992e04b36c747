"""The maintenance modular input as splunkd runs it (--scheme, --validate-arguments, XML on
stdin), and its settings checks called directly for each kind of bad setting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from anchor.errors import AnchorError
from anchor.splunk.maintenance_input import validate_settings

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


BAD_SETTINGS = [
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
]


@pytest.mark.parametrize("params, message", BAD_SETTINGS)
def test_bad_settings_are_refused_with_what_to_fix(params, message):
    with pytest.raises(AnchorError, match=re.escape(message)):
        validate_settings(params)


@pytest.mark.parametrize("interval", ["86400", "30 2 * * *", "*/15 * * * 1-5"])
def test_good_settings_are_accepted(interval):
    settings = validate_settings({"destination": "local", "interval": interval})
    assert settings["destination"] == "local" and settings["actions"]


def test_splunkd_gets_a_refusal_as_an_error_message_and_a_good_stanza_as_exit_0():
    """The validation entry point as splunkd runs it: --validate-arguments, XML on stdin."""
    refused = run(["--validate-arguments"], validation_xml(destination="ftp"))
    assert refused.returncode == 1
    assert "<error><message>" in refused.stdout
    assert "destination must be local or oss" in refused.stdout
    accepted = run(
        ["--validate-arguments"], validation_xml(destination="local", interval="30 2 * * *")
    )
    assert accepted.returncode == 0, accepted.stdout


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


def _kv_run(tmp_path, splunkd, actions="decay,compact,retention,export"):
    """Run the input as splunkd would, against the fake splunkd's KV Store (no developer store)."""
    home = tmp_path / "splunk"
    env = {
        "PATH": "/usr/bin:/bin",
        "SPLUNK_HOME": str(home),
        "ANCHOR_SPLUNKD_CA": splunkd.ca_file(tmp_path),
    }
    splunkd.conf.setdefault("retention", {"drift_days": "90", "drift_max_count": "100000"})
    config = (
        f"<input><server_uri>{splunkd.uri}</server_uri><session_key>{splunkd.session_key}</session_key>"
        '<configuration><stanza name="anchor_maintenance://nightly"><param name="destination">local</param>'
        f'<param name="actions">{actions}</param></stanza></configuration></input>'
    )
    result = run([], config, env=env)
    log_file = home / "var" / "log" / "splunk" / "anchor_maintenance.log"
    exports = list((home / "var" / "lib" / "anchor" / "exports").rglob("*.json.gz"))
    return result, (log_file.read_text() if log_file.exists() else ""), exports


@pytest.mark.parametrize(
    "roles, status, works, reason",
    [
        (["search_head", "kv_store"], 200, True, None),
        (["search_head", "shc_member", "shc_captain"], 200, True, None),
        (["search_head", "shc_member"], 200, False, "not_captain"),
        (["search_head", "shc_member"], 500, False, "captain_check_failed"),
    ],
)
def test_only_a_standalone_head_or_the_captain_works_and_a_failed_check_fails_closed(
    tmp_path, roles, status, works, reason
):
    from fakes.fake_splunkd import FakeSplunkd

    with FakeSplunkd() as splunkd:
        splunkd.server_roles, splunkd.server_info_status = roles, status
        result, log, exports = _kv_run(tmp_path, splunkd)
    assert result.returncode == 0, result.stderr
    assert bool(exports) == works, log
    if works:
        assert "action=retention status=ok" in log and '"status": "ok"' in result.stdout
    else:
        assert f'status=skipped reason="{reason}' in log
        assert not [m for m, p in splunkd.requests if "storage/collections" in p]
        # A member that is not captain stays quiet; a failed check is reported on the dashboard.
        assert ('"status": "skipped"' in result.stdout) == (reason == "captain_check_failed")


def test_retention_reads_anchor_conf_and_deletes_old_drifts_only(tmp_path):
    from fakes.fake_splunkd import FakeSplunkd

    now = __import__("time").time()
    with FakeSplunkd() as splunkd:
        splunkd.conf["retention"] = {"drift_days": "30", "drift_max_count": "3"}
        drifts = splunkd.data["anchor_drifts"]
        for i, age in enumerate([1, 2, 3, 4, 45, 60]):
            drifts[f"d{i}"] = {
                "_key": f"d{i}",
                "drift_id": f"d{i}",
                "anchor": "a",
                "created": now - age * 86400,
            }
        splunkd.data["anchor_feedback"]["f"] = {
            "_key": "f",
            "drift_id": "d5",
            "signal_id": "s",
            "outcome": "confirmed",
            "user": "u",
            "time": now,
        }
        result, log, _ = _kv_run(tmp_path, splunkd, actions="retention")
        assert result.returncode == 0, result.stderr
        assert sorted(drifts) == ["d0", "d1", "d2"], log
        assert "f" in splunkd.data["anchor_feedback"]  # feedback is the weights' source: kept
        assert "2 drift(s) older than 30 days and 1 beyond the newest 3 removed" in result.stdout
        splunkd.conf["retention"] = {"drift_days": "soon"}
        result, log, _ = _kv_run(tmp_path, splunkd, actions="retention")
        assert "action=retention status=failed" in log and "drift_days must be a number" in log
        assert sorted(drifts) == ["d0", "d1", "d2"]
