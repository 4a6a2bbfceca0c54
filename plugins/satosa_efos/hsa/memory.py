"""An in-memory HSA directory for tests and the demo, loaded from LDIF.

It answers exactly like the LDAP and web-service clients will (same :class:`Person` objects,
same one-identifier rule, same normalisation, via :func:`~.model.lookup_key`) so the SATOSA
micro-service can be tested without a network. It never raises :class:`DirectoryUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .ldif import people_from_entries, read_ldif
from .model import HsaDataError, Person, lookup_key

__all__ = ["DEMO_LDIF", "InMemoryDirectory"]

#: The demo's fictional HSA directory (DOMAIN.md §10), shared by the demo and the tests.
DEMO_LDIF: Path = Path(__file__).resolve().parent.parent / "simulators" / "hsa_directory.ldif"


class InMemoryDirectory:
    """A :class:`~.model.Directory` backed by dictionaries indexed by each identifier.

    ``include_feigned`` mirrors the RIV service's ``includeFeignedObject``: by default feigned
    (test) people are not found, as in production, so a feigned object can never log in by
    accident. Two people sharing an HSA-id, personnummer or mail is a data error, reported at
    construction rather than answered arbitrarily at lookup time.
    """

    def __init__(self, people: Iterable[Person], *, include_feigned: bool = False) -> None:
        self.include_feigned = include_feigned
        self._by_key: dict[tuple[str, str], Person] = {}
        self._people: list[Person] = []
        for person in people:
            if not isinstance(person, Person):
                raise TypeError(f"expected Person, got {type(person).__name__}")
            self._people.append(person)
            keys = [("hsa_id", person.hsa_id)]
            if person.personal_identity_number is not None:
                keys.append(("personal_identity_number", person.personal_identity_number))
            if person.mail is not None:
                keys.append(("mail", person.mail.lower()))
            for key in keys:
                other = self._by_key.get(key)
                if other is not None:
                    # Name the people by HSA-id only: the value may be a personnummer.
                    raise HsaDataError(f"{person.hsa_id} and {other.hsa_id} have the same {key[0]}")
                self._by_key[key] = person

    @classmethod
    def from_ldif(
        cls, path: str | Path = DEMO_LDIF, *, include_feigned: bool = False
    ) -> InMemoryDirectory:
        """Load a directory from an LDIF file (default: the demo data)."""
        entries = read_ldif(path)
        return cls(people_from_entries(entries, source=str(path)), include_feigned=include_feigned)

    @property
    def people(self) -> tuple[Person, ...]:
        """Everyone loaded, feigned people included, in load order (for listings and tests)."""
        return tuple(self._people)

    def __len__(self) -> int:
        return len(self._people)

    def find_person(
        self,
        *,
        hsa_id: str | None = None,
        personal_identity_number: str | None = None,
        mail: str | None = None,
    ) -> Person | None:
        """Return the person with this one identifier, or None (see ``model.lookup_key``)."""
        key = lookup_key(
            hsa_id=hsa_id, personal_identity_number=personal_identity_number, mail=mail
        )
        person = self._by_key.get(key)
        if person is not None and person.feigned and not self.include_feigned:
            return None
        return person
