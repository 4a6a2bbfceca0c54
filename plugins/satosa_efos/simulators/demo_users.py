"""The fictional users of the demo organisation IdP (demo only, not a real service).

The people live in ``demo_users.yaml`` beside this module so that the demo page, the flow tests
and a reader of the documentation all see the same list; tests look users up by username.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEMO_USERS_FILE = Path(__file__).with_name("demo_users.yaml")


@dataclass(frozen=True)
class DemoUser:
    """One demo person; ``attributes`` use the Swedish eID FriendlyNames (names.SWEDISH_EID)."""

    username: str
    password: str
    display_name: str
    organisation: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    #: Which organisation's demo IdP knows this user (normally their own organisation; the
    #: demo has one user at the wrong IdP, to show the scope check).
    idp: str = ""

    def __post_init__(self) -> None:
        if not self.idp:
            object.__setattr__(self, "idp", self.organisation)


def load_demo_users(path: Path = DEMO_USERS_FILE) -> list[DemoUser]:
    """Read the demo users; a user without its own ``password`` gets the file's shared one."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    shared_password = str(data.get("password", ""))
    return [
        DemoUser(
            username=entry["username"],
            password=str(entry.get("password", shared_password)),
            display_name=entry["display_name"],
            organisation=entry["organisation"],
            idp=entry.get("idp", ""),
            attributes={
                name: [str(value) for value in values]
                for name, values in entry.get("attributes", {}).items()
            },
        )
        for entry in data["users"]
    ]
