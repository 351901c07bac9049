"""The decoded form of one datagram: a tree of named fields, each with the section that
defines it.

A learner reading a trace wants three things per field: its name as the RFC spells it, its
value, and where to read about it. :class:`Field` carries exactly that, and converts to and
from plain dicts so a trace can be written as JSON lines and read back by ``voice trace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A field's value: what JSON can carry without losing it.
Value = str | int | bool | None


@dataclass(slots=True)
class Field:
    """One decoded field; ``children`` hold the fields inside it (attributes, records...)."""

    name: str
    value: Value = None
    cite: str | None = None
    children: list[Field] = field(default_factory=list)

    def add(self, name: str, value: Value = None, cite: str | None = None) -> Field:
        child = Field(name, value, cite)
        self.children.append(child)
        return child

    def find(self, name: str) -> list[Field]:
        """Every field named ``name`` in this subtree, depth first, in wire order."""
        found = [self] if self.name == name else []
        for child in self.children:
            found.extend(child.find(name))
        return found

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        if self.cite is not None:
            out["cite"] = self.cite
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Field:
        return cls(
            str(data["name"]),
            data.get("value"),
            data.get("cite"),
            [cls.from_dict(c) for c in data.get("children", ())],
        )
