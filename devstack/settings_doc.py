"""The configuration table of docs/configuration.md, generated from the settings so they
never drift (``make docs`` rewrites it; a unit test fails when it is stale): the service's
settings, then the dev stack's section (``AGENT_ACTORS_STACK__*``)."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from devstack.settings import REPO_ROOT, DevSettings

START, END = "<!-- settings:start -->", "<!-- settings:end -->"
DOC = REPO_ROOT / "docs" / "configuration.md"


def _default(value: object) -> str:
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(REPO_ROOT)}`"
        except ValueError:
            return f"`{value}`"
    if value is None or value == {}:
        return "unset"
    text = str(value)
    return f"`{text}`" if len(text) < 40 else f"`{text[:37]}…`"


def rows() -> list[str]:
    out = ["| environment variable | default | what it sets |", "|---|---|---|"]
    for name, field in DevSettings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for sub, subfield in section.model_fields.items():
                env = f"AGENT_ACTORS_{name.upper()}__{sub.upper()}"
                default = subfield.get_default(call_default_factory=True)
                out.append(f"| `{env}` | {_default(default)} | {subfield.description or ''} |")
        else:
            env = f"AGENT_ACTORS_{name.upper()}"
            out.append(f"| `{env}` | {_default(field.default)} | {field.description or ''} |")
    return out


def render(doc: str) -> str:
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n" + "\n".join(rows()) + f"\n{END}{tail}"


def main() -> int:
    DOC.write_text(render(DOC.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
