"""``wsbench protocol show``: one protocol's every value, where it is declared, and where each value comes from."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from harness.api.protocol import FIELDS, MAPPINGS, PROSE
from harness.api.protocol_files import ProtocolEntry


def _value(v: object) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    if isinstance(v, tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "unset" if v is None else repr(v) if isinstance(v, str) else str(v)


def show_protocol(entry: ProtocolEntry, spaces: Sequence[str] = ()) -> str:
    """Every field of the protocol, marked where it differs from the engine default, with its source when recorded."""
    p = entry.protocol
    lines = [
        f"protocol {p.name}: {p.description}",
        f"  declared in {entry.path}" + (f" (base: {entry.base})" if entry.base else ""),
    ]
    if spaces:
        lines.append(f"  for space(s): {', '.join(spaces)}")
    lines.append("")
    width = max(len(k) for k in FIELDS)
    for key, option in FIELDS.items():
        if key in PROSE or key == "description":
            continue
        value = getattr(p, key)
        mark = " " if value == option.default else "*"
        line = f" {mark} {key:<{width}}  {_value(value)}"
        if key in MAPPINGS:
            line += "".join(
                f"\n      {key}.{k}: source: {entry.sources[f'{key}.{k}']}" for k in value if f"{key}.{k}" in entry.sources
            )
        if key in entry.sources:
            line += f"\n      source: {entry.sources[key]}"
        lines.append(line)
    lines += ["", "  * differs from the engine default (harness/api/protocol.py)"]
    if p.notes:
        lines += ["", "notes:", *textwrap.wrap(p.notes, 100, initial_indent="  ", subsequent_indent="  ")]
    if p.references:
        lines += ["", "references:", *(f"  - {r}" for r in p.references)]
    return "\n".join(lines)
