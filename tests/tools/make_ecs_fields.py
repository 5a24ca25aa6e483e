"""Writes tests/shipper/ecs_fields.json, the pinned ECS field list, from elastic/ecs's ecs_flat.yml.

Made once (2026-12-02) from the v9.4.0 tag of github.com/elastic/ecs:

    git -C <a clone of elastic/ecs> show v9.4.0:generated/ecs/ecs_flat.yml > /tmp/ecs_flat.yml
    .venv/bin/python tests/tools/make_ecs_fields.py /tmp/ecs_flat.yml v9.4.0 > tests/shipper/ecs_fields.json

The output is every field of the file (not a subset): ``{"ecs_version": ..., "source": ...,
"fields": {flat name: ECS type}}``. An ``object`` field that holds leaves of one type (``labels``:
keyword) is written ``object:<object_type>``. Tests read the JSON only; run this again only to move
to another ECS version (and then check what the shipper emits against it: tests/shipper/test_ecs.py).
"""

from __future__ import annotations

import json
import sys

import yaml


def main() -> None:
    path, tag = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        flat = yaml.safe_load(f)
    fields: dict[str, str] = {}
    for name, spec in sorted(flat.items()):
        kind = spec["type"]
        if kind == "object" and spec.get("object_type"):
            kind = f"object:{spec['object_type']}"
        fields[name] = kind
    version = tag.removeprefix("v")  # the file names no version of its own (ecs.version's example is 1.0.0)
    out = {
        "ecs_version": str(version),
        "source": f"elastic/ecs {tag} generated/ecs/ecs_flat.yml",
        "fields": fields,
    }
    json.dump(out, sys.stdout, indent=0, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
