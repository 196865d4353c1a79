"""Config providers: references resolved only where the worker allows, and never shown back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brook.connect.runtime import validation
from brook.connect.runtime.config_providers import (
    Resolver,
    from_worker,
    placeholder_problems,
    reverse_transform,
)
from brook.connect.runtime.worker_config import WorkerConfig

PKG = "org.apache.kafka.common.config.provider."


def resolver(tmp_path: Path, params: dict[str, str] | None = None) -> Resolver:
    props = {"config.providers.file.class": PKG + "FileConfigProvider",
             "config.providers.dir.class": PKG + "DirectoryConfigProvider",
             "config.providers.env.class": PKG + "EnvVarConfigProvider"}
    props.update({f"config.providers.{k}": v for k, v in (params or {}).items()})
    return Resolver(from_worker(props, ["file", "dir", "env"]))


@pytest.fixture(name="secrets")
def fixture_secrets(tmp_path: Path) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "s3.properties").write_text("secret=hunter2-very-secret\nid = AKIDEXAMPLE\n")
    (d / "token").write_text("tok-123456")
    (tmp_path / "outside.properties").write_text("secret=outside-value\n")
    (d / "link.properties").symlink_to(tmp_path / "outside.properties")
    return d


def test_nothing_is_readable_by_default(tmp_path: Path, secrets: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROOK_TEST_SECRET", "from-env")
    config = {"a": f"${{file:{secrets}/s3.properties:secret}}", "b": f"${{dir:{secrets}:token}}",
              "c": "${env:BROOK_TEST_SECRET}"}
    resolved, _ = resolver(tmp_path).resolve(config)
    assert resolved == config  # unresolved references stay as they are, as in Kafka


def test_allowed_paths_and_allowlist(tmp_path: Path, secrets: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROOK_TEST_SECRET", "from-env")
    monkeypatch.setenv("HOME_SECRET", "nope")
    r = resolver(tmp_path, {"file.param.allowed.paths": str(secrets),
                            "dir.param.allowed.paths": str(secrets),
                            "env.param.allowlist.pattern": "BROOK_TEST_.*"})
    config = {"a": f"${{file:{secrets}/s3.properties:secret}}",
              "both": f"${{file:{secrets}/s3.properties:id}}/${{env:BROOK_TEST_SECRET}}",
              "b": f"${{dir:{secrets}:token}}", "c": "${env:BROOK_TEST_SECRET}",
              "denied_env": "${env:HOME_SECRET}",
              "symlink_out": f"${{file:{secrets}/link.properties:secret}}",
              "dotdot": f"${{file:{secrets}/../outside.properties:secret}}",
              "dir_escape": f"${{dir:{secrets}:../outside.properties}}",
              "missing_key": f"${{file:{secrets}/s3.properties:nope}}",
              "unknown_provider": "${vault:x:y}", "plain": "text"}
    resolved, scrub = r.resolve(config)
    assert resolved["a"] == "hunter2-very-secret"
    assert resolved["both"] == "AKIDEXAMPLE/from-env"
    assert resolved["b"] == "tok-123456" and resolved["c"] == "from-env"
    for key in ("denied_env", "symlink_out", "dotdot", "dir_escape", "missing_key",
                "unknown_provider", "plain"):
        assert resolved[key] == config[key], key
    assert scrub("failed with hunter2-very-secret") == f"failed with {config['a']}"
    tasks = reverse_transform(config, [{"a": "hunter2-very-secret", "copied": "x hunter2-very-secret"}],
                              scrub)
    assert tasks == [{"a": config["a"], "copied": f"x {config['a']}"}]


def test_kubernetes_secret_volumes(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "..2026_12_06").mkdir(parents=True)
    (volume / "..2026_12_06" / "password").write_text("k8s-secret")
    (volume / "..data").symlink_to("..2026_12_06")
    (volume / "password").symlink_to("..data/password")
    (tmp_path / "elsewhere").write_text("not for connectors")
    (volume / "escape").symlink_to(tmp_path / "elsewhere")
    r = resolver(tmp_path, {"dir.param.allowed.paths": str(volume)})
    resolved, _ = r.resolve({"p": f"${{dir:{volume}:password}}", "e": f"${{dir:{volume}:escape}}"})
    assert resolved == {"p": "k8s-secret", "e": f"${{dir:{volume}:escape}}"}


def test_worker_refuses_bad_provider_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="could not be found"):
        WorkerConfig({"config.providers": "x", "config.providers.x.class": "com.example.Vault"})
    with pytest.raises(ValueError, match="not an absolute path"):
        WorkerConfig({"config.providers": "file",
                      "config.providers.file.class": PKG + "FileConfigProvider",
                      "config.providers.file.param.allowed.paths": "relative/dir"})
    worker = WorkerConfig({"config.providers": "file",
                           "config.providers.file.class": "FileConfigProvider"})
    assert set(worker.config_providers) == {"file"}


def test_validation_never_shows_a_resolved_value(tmp_path: Path, secrets: Path) -> None:
    r = resolver(tmp_path, {"file.param.allowed.paths": str(secrets)})
    ref = f"${{file:{secrets}/s3.properties:secret}}"
    infos = validation.validate({"connector.class": "S3SinkConnector", "name": "n", "topics": "t",
                                 "s3.bucket.name": "bkt", "flush.size": ref,
                                 "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
                                 "topics.dir": ref}, resolver=r)
    text = repr(infos)
    assert "hunter2" not in text
    by_name = {c["value"]["name"]: c["value"] for c in infos["configs"]}
    assert by_name["flush.size"]["value"] == ref and by_name["flush.size"]["errors"]
    assert any("not allowed in this key" in e for e in by_name["topics.dir"]["errors"])
    assert placeholder_problems({"transforms.r.replacement": ref, "aws.secret.access.key": ref}) == [
        ("transforms.r.replacement", "config provider references are not allowed in this key: "
                                     "its value becomes a topic, object or connector name")]
    assert os.environ.get("BROOK_TEST_SECRET") is None
