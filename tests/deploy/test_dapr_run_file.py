"""dapr.yaml (Multi-App Run) uses only keys the Dapr CLI reads: checked against the CLI's own
source at a pinned release (Go's module proxy)."""

from __future__ import annotations

import re

import yaml

from tests.deploy.dapr_sources import dapr_cli_dir, dapr_run_file_keys
from tests.manifests import REPO

RUN_FILE = REPO / "dapr.yaml"


def test_the_run_file_can_set_no_other_listen_address() -> None:
    # What dapr.yaml (and docs/devstack.md) say: the CLI maps apiListenAddresses to daprd's
    # --dapr-listen-addresses, and has no field for the internal gRPC or metrics address.
    run = (dapr_cli_dir() / "pkg" / "standalone" / "run.go").read_text()
    fields = dict(re.findall(r'arg:"([a-z-]+)"[^`]*yaml:"(\w+)"', run))
    assert fields["dapr-listen-addresses"] == "apiListenAddresses"
    assert fields["placement-host-address"] == "placementHostAddress"
    assert fields["scheduler-host-address"] == "schedulerHostAddress"
    assert [f for f in fields if "listen-address" in f] == ["dapr-listen-addresses"]


def _unknown_keys(run: dict) -> set[str]:
    top, per_app = dapr_run_file_keys()
    unknown = set(run) - top
    for app in run.get("apps", []):
        unknown |= set(app) - per_app
    return unknown


def test_every_key_is_one_the_dapr_cli_reads() -> None:
    # The CLI's YAML decoding ignores unknown keys: a typo would be silently dropped.
    top, per_app = dapr_run_file_keys()
    assert {"version", "apps", "common"} <= top  # the parse of the CLI's source worked
    assert {"appID", "resourcesPaths", "configFilePath", "env", "command"} <= per_app
    assert _unknown_keys(yaml.safe_load(RUN_FILE.read_text())) == set()


def test_a_misspelled_key_is_caught() -> None:
    broken = RUN_FILE.read_text().replace("resourcesPaths:", "resourcePaths:")
    assert _unknown_keys(yaml.safe_load(broken)) == {"resourcePaths"}


def test_the_cli_gives_env_to_the_app_only() -> None:
    # Why dapr.yaml documents REDIS_HOST on the command line instead of under `env:`.
    run = (dapr_cli_dir() / "pkg" / "standalone" / "run.go").read_text()
    daprd = re.search(r"func GetDaprCommand\(.*?\n\}", run, re.S)
    app = re.search(r"func GetAppCommand\(.*?\n\}", run, re.S)
    assert daprd
    assert app
    assert ".Env" not in daprd.group(0)  # daprd inherits the CLI's environment
    assert "cmd.Env = append(cmd.Env, config.getEnv()...)" in app.group(0)
