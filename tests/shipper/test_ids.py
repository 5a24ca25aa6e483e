"""Doc ids across hosts: two hosts whose log files are byte-for-byte alike ship into one store and
both keep every line (the ids are salted with the host name); one host re-shipping stores nothing."""

from __future__ import annotations

from pathlib import Path

from logstore import open_store
from logwarden.config import load_config
from shipper.cli import main as shipper_main


def _config(tmp: Path, host: str, db: Path) -> Path:
    root = tmp / host
    (root / "logs").mkdir(parents=True)
    lines = "".join(f'{{"msg": "same line {i}", "level": 30}}\n' for i in range(50))
    (root / "logs" / "app.log").write_text(lines)
    cfg = root / "logwarden.yaml"
    cfg.write_text(
        f"store: {{sqlite: {{path: {db}}}}}\n"
        f"shipper:\n  host_name: {host}\n  registry: {root / 'registry.db'}\n"
        f"  inputs: [{{paths: ['{root / 'logs'}/app.log'], format: json, service: app}}]\n"
    )
    return cfg


def test_identical_files_on_two_hosts_are_both_stored(tmp_path: Path) -> None:
    """web1 and web2 each ship the same 50 lines into one store: 100 docs, 50 per host."""
    db = tmp_path / "store.db"
    configs = [_config(tmp_path, host, db) for host in ("web1", "web2")]
    for cfg in configs:
        assert shipper_main(["run", "--once", "-c", str(cfg)]) == 0
    assert shipper_main(["run", "--once", "-c", str(configs[0])]) == 0  # again: nothing new
    store = open_store(load_config(configs[0]).store, create=False)
    try:
        assert store.count("") == 100
        assert store.count("host.name:web1") == 50 and store.count("host.name:web2") == 50
    finally:
        store.close()
