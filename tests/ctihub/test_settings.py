"""Configuration: TOML file, environment overrides, precise errors, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctihub.settings import ConfigError, load_settings


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[ami]\nhost = "10.0.0.5"\nport = 5038\n')
    settings = load_settings(config, env={"CTIHUB_AMI__PORT": "5039"})
    assert (settings.ami.host, settings.ami.port) == ("10.0.0.5", 5039)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[ami]\nhots = 1\n")
    with pytest.raises(ConfigError, match=r"ami\.hots"):
        load_settings(config, env={})


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[ami\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env={})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", env={})


def test_bad_extension_pattern_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"tracker\.extension_pattern"):
        load_settings(None, env={"CTIHUB_TRACKER__EXTENSION_PATTERN": "(["})


def test_secret_never_appears_in_reprs() -> None:
    settings = load_settings(None, env={"CTIHUB_AMI__SECRET": "hunter2"})
    assert settings.ami.secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.ami)


def test_example_configuration_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "ctihub" / "examples" / "ctihub.example.toml"
    load_settings(example, env={})
