"""Load and cross-check the registries: ``organisations.yaml`` (or ``organisations/*.yaml``)
and ``applications.yaml``.

Every problem is reported as ``file:line: message``. Rules that need the whole registry are here:
duplicate ids, organisation numbers, domains and entityIDs, and applications that allow an
organisation that does not exist.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from satosa_efos.config.files import check_metadata
from satosa_efos.config.models import Application, Organisation
from satosa_efos.config.source import ConfigError, Document, Problem, load_document
from satosa_efos.oidc.claims import release_problem
from satosa_efos.organisations.registry import ApplicationRegistry, OrganisationRegistry
from satosa_efos.saml.checks import application_problems

ORGANISATIONS_FILE = "organisations.yaml"
ORGANISATIONS_DIR = "organisations"
APPLICATIONS_FILE = "applications.yaml"


def _dotted(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(error: dict[str, Any]) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}' in {_dotted(loc[:-1]) or 'the top level'}"
    if kind == "missing":
        return f"{_dotted(loc[:-1]) or 'top level'}: missing required key '{loc[-1]}'"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{_dotted(loc)}: {message}"


def validate(
    document: Document, model: type[BaseModel], data: Any = None, loc: tuple = ()
) -> tuple[BaseModel | None, list[Problem]]:
    """Validate (part of) a loaded document against a model, mapping pydantic's errors to lines."""
    if document.problems:
        return None, list(document.problems)
    if data is None:
        data = {} if document.data is None else document.data
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [
            document.problem((*loc, *e["loc"]), _explain({**e, "loc": (*loc, *e["loc"])}))
            for e in exc.errors()
        ]


def validate_entries(
    document: Document, key: str, model: type[BaseModel]
) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """Validate a ``key: [entries]`` file entry by entry, so one bad entry hides no other problem.

    Returns the valid entries with their index in the file, and every problem found.
    """
    if document.problems:
        return [], list(document.problems)
    data = {key: []} if document.data is None else document.data
    if not isinstance(data, dict):
        return [], [document.problem((), f"the file must be a mapping with the key '{key}'")]
    problems = [document.problem((k,), f"unknown key '{k}' at the top level") for k in data
                if k != key]  # fmt: skip
    entries = data.get(key) or []
    if not isinstance(entries, list):
        return [], [*problems, document.problem((key,), f"'{key}' must be a list")]
    valid = []
    for i, entry in enumerate(entries):
        parsed, found = validate(document, model, entry, (key, i))
        problems += found
        if parsed is not None:
            valid.append((i, parsed))
    return valid, problems


@dataclass(frozen=True)
class Registries:
    organisations: OrganisationRegistry
    applications: ApplicationRegistry


class _Index:
    """Finds duplicates of one key across entries and says where the first one was."""

    def __init__(self, what: str):
        self.what, self.first = what, {}

    def add(self, value: str, doc: Document, loc: tuple, problems: list[Problem]) -> None:
        if value in self.first:
            first_doc, first_loc = self.first[value]
            where = f"{first_doc.display_name}:{first_doc.line_of(first_loc)}"
            problems.append(doc.problem(loc, f"{self.what} '{value}' is already used at {where}"))
        else:
            self.first[value] = (doc, loc)


def _organisation_documents(conf_dir: Path, display_dir: str) -> list[Document]:
    single, folder = conf_dir / ORGANISATIONS_FILE, conf_dir / ORGANISATIONS_DIR
    if single.exists() and folder.is_dir():
        doc = load_document(single, f"{display_dir}/{ORGANISATIONS_FILE}")
        doc.problems.append(
            Problem(doc.display_name, 1, f"use either {ORGANISATIONS_FILE} or {ORGANISATIONS_DIR}/")
        )
        return [doc]
    if folder.is_dir():
        files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
        return [load_document(f, f"{display_dir}/{ORGANISATIONS_DIR}/{f.name}") for f in files]
    return [load_document(single, f"{display_dir}/{ORGANISATIONS_FILE}")]


@dataclass
class _Entry:
    """One organisation entry, possibly changed by later files, knowing where each key came from.

    A later file in ``organisations/`` may change an entry of an earlier one (``changes:``); the
    demo uses that to point two municipalities at its demo IdPs without copying the registry.
    """

    doc: Document
    loc: tuple
    raw: dict
    overrides: dict[str, tuple[Document, tuple]]

    def where(self, loc: tuple) -> tuple[Document, tuple]:
        if loc and loc[0] in self.overrides:
            doc, base = self.overrides[loc[0]]
            return doc, (*base, *loc[1:])
        return self.doc, (*self.loc, *loc)


def _collect_entries(docs: list[Document]) -> tuple[list[_Entry], list[Problem]]:
    entries: list[_Entry] = []
    by_id: dict[str, _Entry] = {}
    problems: list[Problem] = []
    for doc in docs:
        if doc.problems:
            problems += doc.problems
            continue
        data = {} if doc.data is None else doc.data
        if not isinstance(data, dict):
            problems.append(doc.problem((), "the file must be a mapping with 'organisations'"))
            continue
        problems += [doc.problem((k,), f"unknown key '{k}' at the top level") for k in data
                     if k not in ("organisations", "changes")]  # fmt: skip
        for key in ("organisations", "changes"):
            if not isinstance(data.get(key) or [], list):
                problems.append(doc.problem((key,), f"'{key}' must be a list"))
                data = {**data, key: []}
        for i, raw in enumerate(data.get("organisations") or []):
            entry = _Entry(doc, ("organisations", i), raw if isinstance(raw, dict) else {}, {})
            if not isinstance(raw, dict):
                problems.append(doc.problem(entry.loc, "an organisation must be a mapping"))
                continue
            entries.append(entry)
            by_id.setdefault(str(raw.get("id")), entry)
        for j, change in enumerate(data.get("changes") or []):
            loc = ("changes", j)
            target = by_id.get(str(change.get("id"))) if isinstance(change, dict) else None
            if target is None:
                problems.append(
                    doc.problem(
                        loc,
                        "a change must name the id of an organisation defined in an earlier file",
                    )  # fmt: skip
                )
                continue
            for key, value in change.items():
                if key != "id":
                    target.raw = {**target.raw, key: value}
                    target.overrides[key] = (doc, (*loc, key))
    return entries, problems


def _load_organisations(docs: list[Document]) -> tuple[list[Organisation], list[Problem]]:
    """Validate every entry (with its changes applied) and find values used twice."""
    entries, problems = _collect_entries(docs)
    valid: list[tuple[_Entry, Organisation]] = []
    for entry in entries:
        try:
            valid.append((entry, Organisation.model_validate(entry.raw)))
        except ValidationError as exc:
            for error in exc.errors():
                doc, loc = entry.where(tuple(error["loc"]))
                problems.append(doc.problem(loc, _explain({**error, "loc": loc})))
    indexes = {k: _Index(k) for k in ("id", "organisation_number", "domain", "IdP entityID")}
    # Entries a later file changed come last, so that a clash is reported at the change.
    for entry, org in sorted(valid, key=lambda pair: bool(pair[0].overrides)):

        def add(index: str, value: str, loc: tuple, entry: _Entry = entry) -> None:
            indexes[index].add(value, *entry.where(loc), problems)

        add("id", org.id, ("id",))
        add("organisation_number", org.organisation_number, ("organisation_number",))
        for j, domain in enumerate(org.domains):
            add("domain", domain, ("domains", j))
        if org.own_idp:
            add("IdP entityID", org.own_idp.entity_id, ("own_idp", "entity_id"))
    organisations = [org for _, org in valid]
    return organisations, problems


def load_registries(
    conf_dir: Path,
    display_dir: str | None = None,
    *,
    known_attributes: Callable[[str], bool] | None = None,
    openid_names: Mapping[str, Sequence[str]] | None = None,
    internal_attributes: Mapping | None = None,
) -> tuple[Registries | None, list[Problem]]:
    """Read both registries of a configuration directory; (registries, problems).

    ``openid_names`` (internal attribute -> OIDC claim names, from internal_attributes) lets the
    check see that everything released to an OIDC application has a claim name;
    ``internal_attributes`` (the whole file) that everything released to a SAML one has a name.
    """
    conf_dir = Path(conf_dir)
    display_dir = (display_dir or str(conf_dir)).rstrip("/")
    problems: list[Problem] = []

    organisations, found = _load_organisations(_organisation_documents(conf_dir, display_dir))
    problems += found

    app_doc = load_document(conf_dir / APPLICATIONS_FILE, f"{display_dir}/{APPLICATIONS_FILE}")
    app_entries, found = validate_entries(app_doc, "applications", Application)
    problems += found
    applications: list[Application] = [app for _, app in app_entries]
    org_ids = {o.id for o in organisations}
    app_indexes = {k: _Index(f"application {k}") for k in ("id", "entityID", "client_id")}
    # Micro-services find an application by its requester, an entityID or a client_id alike
    # (ApplicationRegistry.for_requester): a client_id must not be another one's entityID.
    by_entity_id = {app.entity_id: app for _, app in app_entries if app.entity_id}
    for i, app in app_entries:
        loc = ("applications", i)
        app_indexes["id"].add(app.id, app_doc, (*loc, "id"), problems)
        if app.entity_id:
            app_indexes["entityID"].add(app.entity_id, app_doc, (*loc, "entity_id"), problems)
        if app.client_id:
            app_indexes["client_id"].add(app.client_id, app_doc, (*loc, "client_id"), problems)
            if app.client_id in by_entity_id:
                other = by_entity_id[app.client_id].id
                problems.append(
                    app_doc.problem(
                        (*loc, "client_id"),
                        f"client_id '{app.client_id}' is the entityID of application '{other}'",
                    )
                )
        if app.protocol == "oidc" and openid_names is not None:
            for j, name in enumerate(app.released_attributes):
                if (known_attributes is None or known_attributes(name)) and (
                    message := release_problem(name, openid_names)
                ):
                    problems.append(app_doc.problem((*loc, "released_attributes", j), message))
        if isinstance(app.allowed_organisations, list):
            for j, org_id in enumerate(app.allowed_organisations):
                if org_id not in org_ids:
                    problems.append(
                        app_doc.problem(
                            (*loc, "allowed_organisations", j),
                            f"application '{app.id}' allows organisation '{org_id}', "
                            "which is not in the organisation registry",
                        )
                    )
        if known_attributes is not None:
            for j, name in enumerate(app.released_attributes):
                if not known_attributes(name):
                    problems.append(
                        app_doc.problem(
                            (*loc, "released_attributes", j),
                            f"attribute '{name}' is not defined in internal_attributes",
                        )
                    )
        if app.metadata:
            found = check_metadata(
                conf_dir / app.metadata, expect_entity_id=app.entity_id, role="SPSSODescriptor"
            )
            problems += [app_doc.problem((*loc, "metadata"), message) for message in found]
            if not found:
                # The SAML frontend's needs: ACS, signing/encryption keys, attribute names.
                for key, message in application_problems(
                    app, conf_dir / app.metadata, internal_attributes
                ):
                    problems.append(app_doc.problem((*loc, *key), message))

    if problems:
        return None, problems
    return Registries(
        OrganisationRegistry(tuple(organisations)), ApplicationRegistry(tuple(applications))
    ), []


@functools.cache
def _cached(conf_dir: Path) -> Registries:
    return require_registries(conf_dir)


def cached_registries(conf_dir: str | Path) -> Registries:
    """The registries of a configuration directory, read once per process.

    Every plugin of one proxy asks for the same directory; the registries are immutable, so they
    share one copy (dictionary look-ups, DESIGN.md §6).
    """
    return _cached(Path(conf_dir).resolve())


def require_registries(conf_dir: Path) -> Registries:
    """For plugins at start-up: the registries, or a ConfigError listing every problem."""
    registries, problems = load_registries(conf_dir)
    if registries is None:
        raise ConfigError(problems)
    return registries
