"""The .conf files agree with the code: every command, option, script and macro they name exists."""

from __future__ import annotations

import configparser
import re

import pytest
from conftest import ROOT
from splunklib.searchcommands import GeneratingCommand, ReportingCommand, StreamingCommand

from anchor.splunk import commands

DEFAULT = ROOT / "default"


def conf(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    text = (DEFAULT / name).read_text()
    parser.read_string(re.sub(r"\\\n\s*", " ", text))  # Splunk's line continuations
    return parser


SPLUNKLIB = (
    GeneratingCommand,
    ReportingCommand,
    StreamingCommand,
)  # their own options (phase, record)
CLASSES = {
    "anchorcapture": commands.AnchorCaptureCommand,
    "anchorcompare": commands.AnchorCompareCommand,
    "anchorfeedback": commands.AnchorFeedbackCommand,
    "anchorpattern": commands.AnchorPatternCommand,
    "anchormaintenance": commands.AnchorMaintenanceCommand,
    "anchorshow": commands.AnchorShowCommand,
}


def test_every_command_has_a_script_and_searchbnf_naming_each_option():
    declared = conf("commands.conf")
    bnf = conf("searchbnf.conf")
    assert sorted(declared.sections()) == sorted(CLASSES)
    for name, cls in CLASSES.items():
        script = ROOT / "bin" / declared.get(name, "filename")
        assert script.exists() and cls.__name__ in script.read_text(), name
        syntax = bnf.get(f"{name}-command", "syntax")
        options = {
            value.name or attr
            for klass in cls.__mro__
            if klass.__module__.startswith("anchor")
            for attr, value in vars(klass).items()
            if type(value).__name__ == "Option"
            and not any(hasattr(base, attr) for base in SPLUNKLIB)
        }
        assert options or name == "anchorpattern", name
        for option in options:
            assert re.search(rf"\b{option}=", syntax), (name, option, syntax)


def test_alert_action_rest_handler_and_saved_search_point_at_real_things():
    action = conf("alert_actions.conf")["anchor_drift"]
    assert (ROOT / "bin" / action["alert.execute.cmd"]).exists()
    assert (ROOT / "appserver" / "static" / action["icon_path"]).exists()
    form = (DEFAULT / "data" / "ui" / "alerts" / "anchor_drift.html").read_text()
    spec = (ROOT / "README" / "alert_actions.conf.spec").read_text()
    for key in (k for k in action if k.startswith("param.")):
        assert f"action.anchor_drift.{key}" in form and key in spec, key
    rest = conf("restmap.conf")["script:anchor_api"]
    module, handler = rest["handler"].split(".")
    assert (ROOT / "bin" / rest["script"]).exists() and module == "anchor_rest"
    assert f"class {handler}" in (ROOT / "bin" / rest["script"]).read_text()
    search = conf("savedsearches.conf")["Anchor - compare every 15 minutes"]
    assert search["disabled"] == "1" and "anchorcompare" in search["search"]
    macros = conf("macros.conf")
    for macro in re.findall(r"`(\w+)`", search["search"]):
        assert macros.has_section(macro), macro
    assert (DEFAULT / "data" / "ui" / "views" / "anchor_setup.xml").exists()


def test_setup_view_is_under_ui_where_app_conf_spec_documents_it():
    # app.conf.spec (9.x and 10.x) lists setup_view under [ui] only; under
    # [install] splunkd ignores it: no "Set up" link and no first-run redirect.
    app = conf("app.conf")
    assert app["ui"]["setup_view"] == "anchor_setup"
    assert not [s for s in app.sections() if s != "ui" and app.has_option(s, "setup_view")]


def test_the_commands_that_write_are_risky_and_the_readers_are_not():
    # commands.conf.spec: is_risky = <boolean>, valid with chunked = true; Splunk
    # Web warns before running a risky command that came from a link or URL.
    declared = conf("commands.conf")
    risky = {
        name
        for name in declared.sections()
        if declared.get(name, "is_risky", fallback="false") == "true"
    }
    assert risky == {"anchorcapture", "anchorfeedback", "anchormaintenance"}


# What each Splunk release's specs accept for the Python settings of the
# stanzas Anchor ships (commands.conf, restmap.conf [script:], inputs.conf
# modular input, alert_actions.conf). python.version: python3 and python3.9
# from 9.3 on (python3.7 too, which Anchor does not run on); python.required
# (read by 10.x, ignored by 9.x): "3.9", "3.13" or the internal "latest",
# which the spec asks apps not to use. python3 means Python 3.7 on a 9.3/9.4
# whose admin relaxed the global force_python3 default, so Anchor names 3.9.
PYTHON_VERSION_VALUES = {
    "9.3": {"python3", "python3.9"},
    "9.4": {"python3", "python3.9"},
    "10.0": {"python3", "python3.9"},
    "10.1": {"python3", "python3.9"},
    "10.2": {"python3", "python3.9"},
}
PYTHON_REQUIRED_VALUES = {"3.9", "3.13"}
PYTHON_STANZAS = {
    "commands.conf": None,
    "restmap.conf": "script:",
    "inputs.conf": "anchor_maintenance",
    "alert_actions.conf": None,
}


def python_stanzas():
    for name, prefix in PYTHON_STANZAS.items():
        parsed = conf(name)
        for section in parsed.sections():
            if prefix is None or section.startswith(prefix):
                yield name, section, parsed[section]


def test_every_python_stanza_names_versions_valid_on_splunk_9_3_to_10_2():
    stanzas = list(python_stanzas())
    assert len(stanzas) == 10  # 6 commands, the REST handler, 2 input stanzas, the alert action
    for name, section, settings in stanzas:
        where = f"{name} [{section}]"
        version = settings.get("python.version")
        for release, allowed in PYTHON_VERSION_VALUES.items():
            assert version in allowed, (where, release, version)
        assert version == "python3.9", where  # never 3.7 on Splunk 9.3/9.4
        required = [v.strip() for v in settings.get("python.required", "").split(",")]
        assert required and set(required) <= PYTHON_REQUIRED_VALUES, (where, required)
        # 9.3 and 9.4 only run 3.9; 10.x picks the highest listed it has.
        assert "3.9" in required and "3.13" in required, where
    assert not any(
        k.startswith("python.") for s in conf("app.conf").sections() for k in conf("app.conf")[s]
    )


@pytest.mark.parametrize("spec", sorted((ROOT / "README").glob("*.spec")))
def test_every_spec_describes_a_conf_we_ship(spec):
    assert (DEFAULT / spec.name.replace(".spec", "")).exists()


def test_maintenance_summaries_go_to_a_named_index_with_json_extraction():
    stanza = conf("inputs.conf")["anchor_maintenance://nightly"]
    index = stanza["index"]
    assert "retention" in stanza["actions"].split(",")
    assert conf("indexes.conf")[index]["homePath"] == f"$SPLUNK_DB/{index}/db"
    assert conf("props.conf")["anchor:maintenance"]["KV_MODE"] == "json"
    dashboard = (DEFAULT / "data" / "ui" / "views" / "drift_history.xml").read_text()
    health = [line for line in dashboard.splitlines() if "anchor:maintenance" in line]
    assert health and all(f"index={index}" in line for line in health)
    retention = conf("anchor.conf")["retention"]
    assert float(retention["drift_days"]) == 90 and int(retention["drift_max_count"]) >= 1


# Roles every Splunk Enterprise and Splunk Cloud deployment defines itself.
BUILT_IN_ROLES = {"admin", "power", "user", "can_delete", "splunk-system-role"}


def test_authorize_conf_creates_no_role_that_is_not_ours_or_built_in():
    # A [role_<name>] stanza creates the role where it does not exist: granting
    # sc_admin (Splunk Cloud only) that way leaves a stray role on Enterprise.
    roles = {s[len("role_") :] for s in conf("authorize.conf").sections() if s.startswith("role_")}
    assert roles - BUILT_IN_ROLES == {"anchor_admin", "anchor_user"}
    assert "admin" in roles


def test_splunk_9_3_is_the_declared_minimum_everywhere_a_user_looks():
    import json

    manifest = json.loads((ROOT / "app.manifest").read_text())
    assert "Splunk 9.3" in manifest["info"]["description"]
    for doc in ("README.md", "docs/DEPLOY.md"):
        text = re.sub(r"\s+", " ", (ROOT / doc).read_text())
        assert "Splunk 9.3 or later" in text, doc
        assert "Splunk Enterprise 9.x (Python 3.9)" not in text, doc  # 9.0-9.2 run Python 3.7
