"""The nightly maintenance modular input: decay, compaction, drift retention and export.

Configure ``[anchor_maintenance://nightly]`` in inputs.conf (disabled by
default) with ``interval`` (seconds, or a cron expression such as
``30 2 * * *``), ``destination = local``, ``local_dir`` (a folder name under
``$SPLUNK_HOME/var/lib/anchor``), ``retention_days`` and ``actions``. Each run
logs ``action=<step> status=ok|failed ...`` lines to
``$SPLUNK_HOME/var/log/splunk/anchor_maintenance.log`` and writes one summary
event (sourcetype ``anchor:maintenance``, JSON) to the stanza's index,
``anchor_summary`` by default (default/indexes.conf). Drift retention
(``actions`` includes ``retention``) reads ``drift_days`` and
``drift_max_count`` from anchor.conf ``[retention]``; if they cannot be read,
the step fails rather than guess.

On a search head cluster every member runs the input, but only the captain
does the work: ``server/info`` lists ``shc_member`` or ``shc_captain`` among
a clustered head's ``server_roles``. The others log ``status=skipped
reason=not_captain``; and when the roles cannot be read at all, no member
works (``status=skipped reason=captain_check_failed``): two members
exporting or deleting at once is worse than one night without maintenance.

With ``destination = oss`` (``oss_bucket``, ``oss_endpoint``, optional
``oss_prefix``) exports go to Alibaba Cloud OSS; the access key id and secret
are read from storage/passwords (realm ``anchor``), never from inputs.conf.
Validation refuses a bad bucket, a non-https endpoint, a bad schedule or
missing credentials with a message that says what to fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional

from splunklib import binding
from splunklib.modularinput import Argument, Event, Scheme, Script

from anchor import maintenance
from anchor.errors import AnchorError
from anchor.oss import OSSClient, OSSConfig, OSSDestination
from anchor.splunk.access import developer_store, open_memory
from anchor.splunk.kvstore import splunkd_content
from anchor.splunk.secrets import read_secret

ACTIONS = ("decay", "compact", "retention", "export")
SOURCETYPE = "anchor:maintenance"
RETENTION_PATH = "/servicesNS/nobody/anchor/configs/conf-anchor/retention"
FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


class InvalidSetting(AnchorError):
    pass


def data_root() -> str:
    return os.path.join(
        os.environ.get("SPLUNK_HOME", os.path.expanduser("~")), "var", "lib", "anchor"
    )


def validate_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check one stanza's parameters; return them normalized or raise with what to fix."""
    destination = (params.get("destination") or "local").strip()
    if destination not in ("local", "oss"):
        raise InvalidSetting(f"destination must be local or oss, got {destination!r}")
    oss: dict[str, str] = {}
    if destination == "oss":
        oss = {
            name: (params.get(f"oss_{name}") or "").strip()
            for name in ("bucket", "endpoint", "prefix")
        }
        oss["prefix"] = oss["prefix"] or "anchor-memory/"
        # Bucket, endpoint and prefix are checked now; credentials come from storage/passwords.
        OSSConfig(
            oss["endpoint"], oss["bucket"], "placeholder", "placeholder", prefix=oss["prefix"]
        )
    folder = (params.get("local_dir") or "exports").strip()
    if not FOLDER.fullmatch(folder):
        raise InvalidSetting(
            f"local_dir {folder!r} must be a folder name (letters, digits, '_', '-', '.') under {data_root()}"
        )
    try:
        retention = float(params.get("retention_days") or 30)
    except ValueError:
        raise InvalidSetting("retention_days must be a number of days, for example 30") from None
    if retention < 1:
        raise InvalidSetting("retention_days must be at least 1")
    actions = [
        a.strip() for a in (params.get("actions") or ",".join(ACTIONS)).split(",") if a.strip()
    ]
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown or not actions:
        raise InvalidSetting(
            f"actions must be a comma list of {', '.join(ACTIONS)}; got {', '.join(unknown) or 'none'}"
        )
    interval = str(params.get("interval") or "").strip()
    if interval and not _valid_interval(interval):
        raise InvalidSetting(
            f"interval {interval!r} is neither seconds (at least 60) nor a 5-field cron expression like '30 2 * * *'"
        )
    return {
        "destination": destination,
        "local_dir": os.path.join(data_root(), folder),
        "retention_days": retention,
        "actions": actions,
        "oss": oss,
    }


def _valid_interval(text: str) -> bool:
    if text.isdigit():
        return int(text) >= 60
    fields = text.split()
    return len(fields) == 5 and all(CRON_FIELD.fullmatch(f) for f in fields)


def logger() -> logging.Logger:
    log = logging.getLogger("anchor_maintenance")
    if not log.handlers:
        home = os.environ.get("SPLUNK_HOME")
        if home:
            folder = os.path.join(home, "var", "log", "splunk")
            os.makedirs(folder, exist_ok=True)
            handler: logging.Handler = logging.FileHandler(
                os.path.join(folder, "anchor_maintenance.log")
            )
        else:
            handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return log


def oss_credentials(splunkd_uri: str, session_key: str) -> tuple[str, str]:
    key_id = read_secret(splunkd_uri, session_key, "oss_access_key_id")
    secret = read_secret(splunkd_uri, session_key, "oss_access_key_secret")
    if not key_id or not secret:
        raise InvalidSetting(
            "OSS credentials are missing: store oss_access_key_id and oss_access_key_secret "
            "(realm anchor) on Anchor's setup page"
        )
    return key_id, secret


def destination_for(settings: Mapping[str, Any], splunkd_uri: str, session_key: str):
    if settings["destination"] == "local":
        return maintenance.LocalDestination(settings["local_dir"])
    oss = settings["oss"]
    key_id, secret = oss_credentials(splunkd_uri, session_key)
    config = OSSConfig(oss["endpoint"], oss["bucket"], key_id, secret, prefix=oss["prefix"])
    return OSSDestination(OSSClient(config))


def read_retention(splunkd_uri: str, session_key: str) -> maintenance.DriftRetention:
    """anchor.conf ``[retention]`` through splunkd; the defaults with a developer store."""
    if developer_store() is not None:
        return maintenance.DEFAULT_RETENTION
    try:
        values = splunkd_content(splunkd_uri, session_key, RETENTION_PATH)
    except binding.HTTPError as error:
        raise InvalidSetting(
            f"cannot read anchor.conf [retention] (splunkd answered HTTP {error.status}): "
            "nothing deleted"
        ) from None
    return maintenance.parse_retention(values)


def run_maintenance(
    settings: Mapping[str, Any],
    memory,
    now: float,
    log: logging.Logger,
    destination=None,
    retention: Optional[Callable[[], maintenance.DriftRetention]] = None,
) -> dict[str, Any]:
    """Run the configured steps in order; a failed step stops the run and is reported."""
    summary: dict[str, Any] = {"status": "ok"}
    destination = destination or maintenance.LocalDestination(settings["local_dir"])
    for action in settings["actions"]:
        try:
            limits = retention() if (action == "retention" and retention) else None
            step = maintenance.run_step(
                memory,
                action,
                now=now,
                destination=destination,
                export_retention_days=settings["retention_days"],
                retention=limits or maintenance.DEFAULT_RETENTION,
            )
        except Exception as error:  # any failure is reported, never half-hidden
            log.error("action=%s status=failed reason=%s", action, str(error).replace("\n", " "))
            summary.update(status="failed", failed_action=action, reason=str(error))
            return summary
        where = f"file={step.file} " if step.file else ""
        log.info("action=%s status=ok %sdetail=%s", action, where, json.dumps(step.detail))
        summary[action] = step.detail
        if step.file:
            summary["file"] = step.file
    return summary


def captain_check(splunkd_uri: str, session_key: str) -> tuple[bool, str]:
    """(work here?, why): standalone heads and the captain work; members and unknowns do not.

    Fails closed: if splunkd's roles cannot be read, this member does not work.
    """
    try:
        content = splunkd_content(splunkd_uri, session_key, "/services/server/info")
        roles = content["server_roles"]
        if not isinstance(roles, list):
            raise TypeError("server_roles is not a list")
    except Exception as error:  # any failure: we cannot tell, so we do not work
        reason = str(error).replace("\n", " ")[:200]
        return False, f"captain_check_failed: {type(error).__name__}: {reason}"
    if "shc_captain" in roles:
        return True, "captain"
    if "shc_member" in roles:
        return False, "not_captain"
    return True, "standalone"


class MaintenanceInput(Script):
    def get_scheme(self) -> Scheme:
        scheme = Scheme("Anchor maintenance")
        scheme.description = "Nightly decay of learned weights, feedback compaction, drift retention and export of Anchor's memory."
        scheme.use_external_validation = True
        scheme.use_single_instance = False
        for name, text, required in (
            ("destination", "local (exports under $SPLUNK_HOME/var/lib/anchor) or oss", True),
            ("oss_bucket", "OSS bucket (destination=oss)", False),
            (
                "oss_endpoint",
                "OSS endpoint, e.g. oss-cn-hangzhou.aliyuncs.com (destination=oss)",
                False,
            ),
            ("oss_prefix", "OSS key prefix (default anchor-memory/)", False),
            ("local_dir", "folder name under $SPLUNK_HOME/var/lib/anchor (default exports)", False),
            ("retention_days", "delete our exports older than this many days (default 30)", False),
            ("actions", "comma list of decay, compact, retention, export (default all)", False),
        ):
            scheme.add_argument(Argument(name, description=text, required_on_create=required))
        return scheme

    def validate_input(self, definition) -> None:
        settings = validate_settings(definition.parameters)
        if settings["destination"] == "oss":
            oss_credentials(
                definition.metadata.get("server_uri"), definition.metadata.get("session_key")
            )

    def stream_events(self, inputs, ew) -> None:
        log = logger()
        uri, token = inputs.metadata.get("server_uri"), inputs.metadata.get("session_key")
        for name, params in inputs.inputs.items():
            summary = self._run_one(name, params, uri, token, log)
            if summary is not None:
                event = Event(
                    stanza=name,
                    sourcetype=SOURCETYPE,
                    time=f"{summary.pop('now'):.3f}",
                    data=json.dumps({"input": name, **summary}, sort_keys=True),
                )
                ew.write_event(event)

    def _run_one(self, name, params, uri, token, log) -> Optional[dict[str, Any]]:
        """One stanza's run as a summary (with ``now``); None when a member has nothing to say."""
        now = time.time()
        try:
            settings = validate_settings(params)
            if developer_store() is None:
                work, why = captain_check(uri, token)
                if not work:
                    log.warning(
                        "action=run status=skipped reason=%s input=%s", json.dumps(why), name
                    )
                    if why == "not_captain":
                        return None  # the captain reports for the cluster
                    return {"now": now, "status": "skipped", "reason": why}
            destination = destination_for(settings, uri, token)
            summary = run_maintenance(
                settings,
                open_memory(uri, token),
                now,
                log,
                destination,
                retention=lambda: read_retention(uri, token),
            )
        except AnchorError as error:
            log.error("action=run status=failed input=%s reason=%s", name, error)
            summary = {"status": "failed", "reason": str(error)}
        return {"now": now, **summary}


def main(argv: Optional[list] = None) -> int:
    import sys

    return MaintenanceInput().run(argv or sys.argv)
