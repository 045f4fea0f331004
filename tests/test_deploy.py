"""The files an operator deploys with (deploy/): Kubernetes manifests valid against the API's schemas
(kubernetes-validate --strict, offline), the HAProxy configuration accepted by haproxy itself, systemd
units running the three commands, and every variable they set one that config.Settings reads."""

from __future__ import annotations

import configparser
import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
HAPROXY_CFG = DEPLOY / "haproxy" / "haproxy.cfg"
VALIDATOR = Path(sys.executable).with_name("kubernetes-validate")
SETTINGS_NAMES = {f.metadata["env"] for f in dataclasses.fields(Settings)}


def manifests() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VALIDATOR), "--strict", "--quiet", *map(str, paths)], capture_output=True, text=True, timeout=120
    )


def test_the_kubernetes_manifests_pass_strict_validation() -> None:
    assert VALIDATOR.exists(), "kubernetes-validate is a dev dependency: pip install -e '.[dev]'"
    result = validate(*MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_catches_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "api.yaml"
    broken.write_text((DEPLOY / "kubernetes" / "api.yaml").read_text().replace("readinessProbe:", "readynessProbe:"))
    result = validate(broken)
    assert result.returncode != 0
    assert "readynessProbe" in result.stdout + result.stderr


def test_the_manifests_hold_what_an_operator_needs() -> None:
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in manifests():
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    assert set(by_kind["Deployment"]) == {"chirp-api", "chirp-worker"}
    assert by_kind["Job"]["chirp-migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    api = by_kind["Deployment"]["chirp-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    scaled = {
        (hpa["spec"]["scaleTargetRef"]["name"], hpa["spec"]["metrics"][0]["resource"]["name"])
        for hpa in by_kind["HorizontalPodAutoscaler"].values()
    }
    assert scaled == {("chirp-api", "cpu"), ("chirp-worker", "cpu")}
    assert set(by_kind["PodDisruptionBudget"]) == {"chirp-api", "chirp-worker"}
    # The drain outlasts the readiness probe's detection, and the grace period outlasts both.
    config = by_kind["ConfigMap"]["chirp"]["data"]
    probe = api["readinessProbe"]
    drain, shutdown = float(config["CHIRP_DRAIN_SECONDS"]), float(config["CHIRP_SHUTDOWN_TIMEOUT"])
    assert drain > probe["periodSeconds"] * probe["failureThreshold"]
    assert (
        by_kind["Deployment"]["chirp-api"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        > drain + shutdown
    )
    assert "CHIRP_NODE_ID" not in config  # each pod leases its own


def test_every_variable_the_deploy_files_set_is_a_setting() -> None:
    set_here: set[str] = set()
    for doc in manifests():
        if doc["kind"] == "ConfigMap":
            set_here |= set(doc["data"])
        if doc["kind"] == "Secret":
            set_here |= set(doc["stringData"])
    for line in (DEPLOY / "systemd" / "chirp.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            set_here.add(line.partition("=")[0])
    assert set_here - SETTINGS_NAMES == set()
    assert {"DATABASE_URL", "REDIS_URL", "MEILI_URL", "S3_ENDPOINT", "CHIRP_TRUSTED_PROXIES"} <= set_here


@pytest.mark.parametrize(
    ("unit", "command"), [("chirp-api@", "serve"), ("chirp-worker@", "worker"), ("chirp-migrate", "migrate")]
)
def test_a_systemd_unit_for_each_command(unit: str, command: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / f"{unit}.service")
    service = parser["Service"]
    assert service["ExecStart"].split()[:2] == ["/opt/chirp/.venv/bin/chirp", command]
    assert service["EnvironmentFile"] == "/etc/chirp/chirp.env"
    if command != "migrate":
        assert "chirp-migrate.service" in parser["Unit"]["After"]  # migrate, then start
        assert service["Restart"] == "always"


def test_the_haproxy_log_format_leaves_out_query_strings_and_headers() -> None:
    text = HAPROXY_CFG.read_text()
    log_format = re.search(r'^\s*log-format\s+"(.*)"', text, re.MULTILINE)
    assert log_format is not None
    # %r is the whole request line, %HU the URI, %HQ the query string: each would log access_token.
    assert not re.search(r"%(r|HU|HQ|\{[^}]*\}r)\b", log_format.group(1))
    assert "%HP" in log_format.group(1)
    assert "capture request header" not in text and "option httplog" not in text
    assert re.search(r"http-check send meth GET uri /readyz", text)
    assert re.search(r"^\s*timeout tunnel ", text, re.MULTILINE)
    assert re.search(r"^\s*option forwardfor", text, re.MULTILINE)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy")
    assert haproxy is not None
    ok = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(HAPROXY_CFG.read_text().replace("timeout tunnel 1h", "timeout tunnel forever"))
    assert subprocess.run([haproxy, "-c", "-f", str(broken)], capture_output=True, timeout=60).returncode != 0
