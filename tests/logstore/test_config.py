"""logwarden.yaml loading: discovery, env expansion and overrides, and one-line errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from logstore.config import ConfigError, parse_duration
from logwarden.config import load_config

CASES = Path(__file__).parent / "config_cases"


@pytest.mark.parametrize("case", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_bad_config_gives_its_exact_error(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bad fixture file produces the errors written next to it: every one, one line each."""
    monkeypatch.chdir(CASES)
    expected = (CASES / f"{case}.err").read_text().strip()
    with pytest.raises(ConfigError) as err:
        load_config(f"{case}.yaml", env={})
    assert str(err.value) == expected
    assert str(err.value).count("\n") == expected.count("\n")  # several_errors.yaml: 4 lines


def test_no_file_means_sqlite_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no -c, no $LOGWARDEN_CONFIG and no ./logwarden.yaml, the SQLite store at ./data applies."""
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.store.backend == "sqlite"
    assert config.store.sqlite is not None
    assert config.store.sqlite.path == Path("data/logwarden.db")
    assert config.source == "<defaults>"


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-c beats $LOGWARDEN_CONFIG, which beats ./logwarden.yaml."""
    monkeypatch.chdir(tmp_path)
    for name, db in (("logwarden.yaml", "local.db"), ("env.yaml", "env.db"), ("cli.yaml", "cli.db")):
        (tmp_path / name).write_text(f"store:\n  sqlite:\n    path: {db}\n")
    env = {"LOGWARDEN_CONFIG": "env.yaml"}
    assert load_config(None, env={}).store.sqlite.path == tmp_path / "local.db"  # type: ignore[union-attr]
    assert load_config(None, env=env).store.sqlite.path == tmp_path / "env.db"  # type: ignore[union-attr]
    assert load_config("cli.yaml", env=env).store.sqlite.path == tmp_path / "cli.db"  # type: ignore[union-attr]


def test_relative_paths_resolve_against_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative paths in logwarden.yaml resolve against its directory, whatever the working directory."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    cfg = tmp_path / "etc" / "logwarden.yaml"
    cfg.write_text(
        "store:\n  sqlite:\n    path: ../data/logwarden.db\n"
        "shipper:\n  registry: reg.db\n  inputs:\n    - paths: [logs/*.log, /abs/*.log]\n"
        "      exclude: ['*.gz', logs/debug.log]\n"
        "alerter:\n  rules: [rules/]\n"
    )
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = load_config(cfg, env={})
    assert config.store.sqlite.path == tmp_path / "data" / "logwarden.db"  # type: ignore[union-attr]
    assert config.shipper.registry == tmp_path / "etc" / "reg.db"
    assert config.shipper.inputs[0].paths == [f"{tmp_path}/etc/logs/*.log", "/abs/*.log"]
    assert config.shipper.inputs[0].exclude == ["*.gz", f"{tmp_path}/etc/logs/debug.log"]
    assert config.alerter.rules == [f"{tmp_path}/etc/rules"]


def test_logq_finds_the_same_store_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """logq -c /abs/logwarden.yaml with a relative store path answers the same from any working directory."""
    import io

    from logq.cli import Io, run
    from logstore import Doc, open_store

    (tmp_path / "elsewhere").mkdir()
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text("store:\n  sqlite:\n    path: data/logwarden.db\n")
    monkeypatch.chdir(tmp_path)
    store = open_store(load_config(cfg, env={}).store)
    store.write([Doc("a", 1000, {"@timestamp": "1970-01-01T00:00:01Z", "event": {"id": "a"}})])
    store.close()
    for cwd in (tmp_path, tmp_path / "elsewhere"):
        monkeypatch.chdir(cwd)
        out, err = io.BytesIO(), io.StringIO()
        code = run(["-c", str(cfg), "--from", "1970-01-01", "--count"], Io(out, err, False, {}))
        assert (code, out.getvalue(), err.getvalue()) == (0, b"1\n", ""), cwd
    assert not (tmp_path / "elsewhere" / "data").exists()


def test_env_expansion_with_default_and_types(tmp_path: Path) -> None:
    """${VAR} and ${VAR:-default} expand; an unquoted expansion is typed like YAML."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "store:\n  elasticsearch:\n    hosts: ['${ES_URL}']\n    verify_certs: ${VERIFY:-false}\n"
        "    password: ${ES_PASS}\n    username: elastic\n"
    )
    config = load_config(path, env={"ES_URL": "https://127.0.0.1:9200", "ES_PASS": "s3cret"})
    es = config.store.elasticsearch
    assert es is not None
    assert es.hosts == ["https://127.0.0.1:9200"]
    assert es.verify_certs is False
    assert es.password is not None and es.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)


def test_env_override_of_any_key(tmp_path: Path) -> None:
    """LOGWARDEN_STORE__SQLITE__RETENTION=3d overrides the file's value."""
    path = tmp_path / "c.yaml"
    path.write_text("store:\n  sqlite:\n    retention: 14d\n")
    config = load_config(path, env={"LOGWARDEN_STORE__SQLITE__RETENTION": "3d"})
    assert config.store.sqlite is not None
    assert config.store.sqlite.retention == timedelta(days=3)


def test_env_override_error_names_the_key(tmp_path: Path) -> None:
    """A bad value from the environment is reported with its key path."""
    with pytest.raises(ConfigError, match=r"store\.sqlite\.retention: expected a duration"):
        load_config(None, env={"LOGWARDEN_STORE__SQLITE__RETENTION": "soon"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("14d", 14 * 86400), ("500ms", 0.5), ("2w", 1209600)],
)
def test_durations(text: str, seconds: float) -> None:
    """Durations carry units and add up."""
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["14", "", "5 minutes", "m5", "1x"])
def test_bad_durations(text: str) -> None:
    """A duration without a known unit is refused."""
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_programs_print_every_config_error_one_a_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """logq and alerter print every error of a bad config, each on its own prefixed line, and exit 2."""
    import io

    from alerter.cli import main as alerter_main
    from logq.cli import Io, run

    monkeypatch.chdir(CASES)
    expected = (CASES / "several_errors.err").read_text().splitlines()
    err = io.StringIO()
    assert run(["-c", "several_errors.yaml"], Io(io.BytesIO(), err, False, {})) == 2
    assert err.getvalue().splitlines() == [f"logq: {line}" for line in expected]
    assert alerter_main(["check", "-c", "several_errors.yaml"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"alerter check: {line}" for line in expected]
