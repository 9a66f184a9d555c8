"""`cunban protocol schemas DIR` and `cunban protocol example NAME`.

Lives in the command-line layer because the submit example is built against the hub's
catalog data, which `protocols/` itself does not read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from protocols.examples import EXAMPLES, example
from protocols.messages import envelope_model
from protocols.topics import Kind


def _schemas(args) -> int:
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind in Kind:
        if kind == Kind.BLOB:
            continue
        schema = envelope_model(kind).model_json_schema()
        schema["title"] = f"cunban {kind.value}"
        (out / f"{kind.value}.schema.json").write_text(
            json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {len(Kind) - 1} schemas to {out}")
    return 0


def _example(args) -> int:
    from hub.catalog import load_catalog

    try:
        payload = example(args.name, catalog=load_catalog(), station=args.station,
                          blobs_dir=args.blobs_dir)
    except KeyError:
        print(f"unknown message {args.name!r}; known: {', '.join(EXAMPLES)}", file=sys.stderr)
        return 2
    sys.stdout.write(payload.decode() + "\n")
    return 0


def _docs(args) -> int:
    from hub.catalog import load_catalog
    from protocols.docs import render

    text = render(load_catalog())
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def register(sub) -> None:
    proto = sub.add_parser("protocol", help="消息协议：JSON Schema 与示例")
    psub = proto.add_subparsers(dest="protocol_command", required=True)
    schemas = psub.add_parser("schemas", help="write one JSON Schema per message")
    schemas.add_argument("dir")
    schemas.set_defaults(func=_schemas)
    ex = psub.add_parser("example", help="print a valid example message")
    ex.add_argument("name", help="e.g. application.submit")
    ex.add_argument("--station", default="411381101201")
    ex.add_argument("--blobs-dir", help="write the example's material images here")
    ex.set_defaults(func=_example)
    docs = psub.add_parser("docs", help="render docs/protocol.md")
    docs.add_argument("--out")
    docs.set_defaults(func=_docs)
