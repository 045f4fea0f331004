"""Settings are read from the environment and a bad value stops the process naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config import Settings, SettingsError


def test_defaults_point_at_the_development_stack() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8080
    assert settings.database_url.startswith("postgresql://")
    assert settings.reactions == ("like", "love", "dislike", "laugh")


def test_values_are_parsed_from_the_environment() -> None:
    settings = Settings.from_env(
        {"CHIRP_PORT": "9000", "CHIRP_REACTIONS": "like, wow", "CHIRP_RATE_LIMIT": "off", "S3_REGION": "eu-west-1"}
    )
    assert settings.port == 9000
    assert settings.reactions == ("like", "wow")
    assert settings.rate_limit_enabled is False
    assert settings.s3_region == "eu-west-1"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CHIRP_PORT", "eighty", "whole number"),
        ("CHIRP_PORT", "70000", "from 1 to 65535"),
        ("DATABASE_URL", "mysql://localhost/x", "postgresql"),
        ("REDIS_URL", "not a url", "redis"),
        ("CHIRP_LOG_LEVEL", "loud", "one of"),
        ("CHIRP_RATE_LIMIT", "maybe", "true or false"),
        ("CHIRP_REACTIONS", "", "comma-separated"),
        ("CHIRP_READINESS_TIMEOUT", "nan", "number from"),
        ("CHIRP_VALKEY_CLUSTER", "sometimes", "true or false"),
    ],
)
def test_a_bad_value_names_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value).startswith(f"{variable}: ")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [("unix://localhost/run/valkey.sock", "over TCP"), ("redis://127.0.0.1:6379/3", "only database 0")],
)
def test_a_valkey_cluster_needs_a_tcp_url_to_database_0(url: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CHIRP_VALKEY_CLUSTER": "true", "REDIS_URL": url})
    assert str(caught.value).startswith("REDIS_URL: ")
    assert expected in str(caught.value)


def test_a_valkey_cluster_is_named_by_any_node() -> None:
    settings = Settings.from_env({"CHIRP_VALKEY_CLUSTER": "yes", "REDIS_URL": "redis://10.0.0.7:7000"})
    assert settings.valkey_cluster is True
    assert Settings.from_env({}).valkey_cluster is False


def test_the_command_refuses_to_start_with_a_bad_value() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env={"CHIRP_PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CHIRP_PORT" in result.stderr
    assert "Traceback" not in result.stderr
