"""SATOSA's own configuration files, loaded and checked the way check-config promises.

A configuration directory holds ``proxy_conf.yaml`` (SATOSA's main file), the plugin files it
names, ``internal_attributes.yaml`` and the two registries. Relative paths anywhere in these files
are relative to the configuration directory; ``satosa-efos serve`` runs with that directory as
its working directory, so SATOSA and pysaml2 see the same files check-config checked.

The loaded result is one dictionary with every plugin file inlined, handed to SATOSA as is, so
SATOSA never re-reads a file that was not checked.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satosa_efos.config.files import (
    check_certificate,
    check_metadata,
    check_next_certificate,
    check_private_key,
    metadata_entity_ids,
)
from satosa_efos.config.registries import load_registries, validate
from satosa_efos.config.source import ConfigError, Document, Problem, load_document
from satosa_efos.federation.checks import federation_problems, published_metadata_problems
from satosa_efos.oidc.claims import openid_names

PROXY_CONF = "proxy_conf.yaml"
REQUIRED = ("BASE", "COOKIE_STATE_NAME", "INTERNAL_ATTRIBUTES", "BACKEND_MODULES",
            "FRONTEND_MODULES")  # fmt: skip
KNOWN = {
    *REQUIRED,
    "STATE_ENCRYPTION_KEY",
    "MICRO_SERVICES",
    "LOGGING",
    "CUSTOM_PLUGIN_MODULE_PATHS",
    "COOKIE_SECURE",
    "COOKIE_HTTPONLY",
    "COOKIE_SAMESITE",
    "COOKIE_MAX_AGE",
    "CONTEXT_STATE_DELETE",
    "ERROR_URL",
    "cookies_samesite_compat",
}
PLUGIN_KEYS = {"module", "name", "config", "plugin"}


@dataclass(frozen=True)
class PluginFacts:
    """What a plugin's ``cross_check(config, facts)`` may check its configuration against.

    ``organisations`` is None when the registry itself has problems (reported separately).
    """

    backends: frozenset[str]
    organisations: frozenset[str] | None


@dataclass
class ProxyConfig:
    """The whole configuration of one proxy, ready for SATOSA."""

    conf_dir: Path
    data: dict[str, Any]
    documents: list[Document] = field(default_factory=list)


def _walk(value: Any, loc: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield loc, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*loc, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, (*loc, i))


def _file_problems(doc: Document, data: Any, conf_dir: Path, base: tuple) -> list[Problem]:
    """Check every key, certificate and metadata file a plugin configuration names."""
    problems: list[Problem] = []
    for loc, value in _walk(data, base):
        key = loc[-1] if loc else None
        if not isinstance(key, str):
            continue
        checks = []
        if key == "next_signing_cert_file" and isinstance(value, str) and loc[:-1] == base:
            # The SAML frontend's next signing certificate (key rollover, docs/operations.md).
            current = ((data.get("idp_config") or {}).get("cert_file")
                       if isinstance(data.get("idp_config"), dict) else None)  # fmt: skip
            checks = check_next_certificate(
                conf_dir / value, conf_dir / current if isinstance(current, str) else None
            )
        elif key.endswith("key_file") and isinstance(value, str):
            checks = check_private_key(conf_dir / value)
        elif key.endswith("cert_file") and isinstance(value, str):
            checks = check_certificate(conf_dir / value)
        elif key == "attribute_map_dir" and isinstance(value, str):
            if not (conf_dir / value).is_dir():
                checks = [f"attribute map folder {conf_dir / value} does not exist"]
        elif key == "federation":
            problems += federation_problems(doc, value, loc, conf_dir)
        elif key == "published_metadata":
            problems += published_metadata_problems(doc, value, loc)
        elif key == "local" and len(loc) >= 2 and loc[-2] == "metadata":
            described: dict[str, Path] = {}
            for i, entry in enumerate(value if isinstance(value, list) else [value]):
                path = conf_dir / str(entry)
                found = (
                    [f for f in sorted(path.iterdir()) if f.suffix == ".xml"]
                    if path.is_dir()
                    else [path]
                )
                for metadata_file in found:
                    problems += [doc.problem((*loc, i), m) for m in check_metadata(metadata_file)]
                    # pysaml2 would silently use one of two descriptions of one entity.
                    for entity in metadata_entity_ids(metadata_file):
                        first = described.setdefault(entity, metadata_file)
                        if first != metadata_file:
                            message = (f"entityID {entity} is described both in {first} "
                                       f"and in {metadata_file}")  # fmt: skip
                            problems.append(doc.problem((*loc, i), message))
        problems += [doc.problem(loc, m) for m in checks]
    return problems


def _import_plugin(module_path: str) -> tuple[type | None, str | None]:
    """(class, None) or (None, why it cannot be loaded)."""
    module_name, _, class_name = module_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is a configuration problem to report
        return None, f"cannot import module '{module_name}': {exc}"
    if not hasattr(module, class_name):
        return None, f"module '{module_name}' has no '{class_name}'"
    return getattr(module, class_name), None


@dataclass
class _Plugin:
    """A loaded plugin entry, kept for the checks that need every plugin (cross-checks)."""

    data: dict
    doc: Document
    base: tuple
    cls: type | None


def _load_plugin(
    entry: Any, conf_dir: Path, display_dir: str, owner: Document, loc: tuple
) -> tuple[_Plugin | None, list[Problem], Document | None]:
    if isinstance(entry, dict):
        doc, data, base = owner, entry, loc
    else:
        doc = load_document(conf_dir / str(entry), f"{display_dir}/{entry}", conf_dir)
        if doc.problems:
            return None, list(doc.problems), doc
        data, base = doc.data, ()
        if not isinstance(data, dict):
            return None, [doc.problem(base, "a plugin file must be a mapping")], doc
    problems = [doc.problem((*base, k), f"unknown key '{k}' in a plugin file") for k in data
                if k not in PLUGIN_KEYS]  # fmt: skip
    for key in ("module", "name"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(doc.problem(base, f"plugin is missing '{key}'"))
    cls = None
    if isinstance(data.get("module"), str):
        cls, reason = _import_plugin(data["module"])
        if reason:
            problems.append(doc.problem((*base, "module"), reason))
    config = data.get("config", {})
    if not isinstance(config, dict):
        problems.append(doc.problem((*base, "config"), "'config' must be a mapping"))
    elif (model := getattr(cls, "CONFIG_MODEL", None)) is not None:
        # The project's own plugins declare their configuration as a model: check it here, with
        # lines, instead of failing when the first worker starts.
        _, found = validate(doc, model, config, (*base, "config"))
        problems += found
    problems += _file_problems(doc, config, conf_dir, (*base, "config"))
    return _Plugin(data, doc, base, cls), problems, doc if doc is not owner else None


def load_proxy_config(
    conf_dir: Path, display_dir: str | None = None
) -> tuple[ProxyConfig | None, list[Problem]]:
    """Load and check a configuration directory; (config, problems)."""
    conf_dir = Path(conf_dir)
    display_dir = (display_dir or str(conf_dir)).rstrip("/")
    main = load_document(conf_dir / PROXY_CONF, f"{display_dir}/{PROXY_CONF}", conf_dir)
    if main.problems:
        return None, list(main.problems)
    if not isinstance(main.data, dict):
        return None, [main.problem((), "proxy_conf.yaml must be a mapping")]
    data, problems, documents = dict(main.data), [], [main]
    plugins: list[_Plugin] = []
    problems += [main.problem((), f"missing required key '{k}'") for k in REQUIRED
                 if k not in data]  # fmt: skip
    problems += [main.problem((k,), f"unknown key '{k}' (not a SATOSA setting)") for k in data
                 if k not in KNOWN]  # fmt: skip
    if not data.get("STATE_ENCRYPTION_KEY"):
        problems.append(main.problem((), "STATE_ENCRYPTION_KEY is missing or empty"))

    attributes: dict[str, Any] = {}
    internal = data.get("INTERNAL_ATTRIBUTES")
    if isinstance(internal, str):
        doc = load_document(conf_dir / internal, f"{display_dir}/{internal}", conf_dir)
        documents.append(doc)
        problems += doc.problems
        if not doc.problems:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("attributes"), dict):
                data["INTERNAL_ATTRIBUTES"] = doc.data
                attributes = doc.data["attributes"]
            else:
                problems.append(doc.problem((), "must have an 'attributes' mapping"))
    elif isinstance(internal, dict):
        attributes = internal.get("attributes") or {}

    for key in ("BACKEND_MODULES", "FRONTEND_MODULES", "MICRO_SERVICES"):
        entries = data.get(key) or []
        if not isinstance(entries, list):
            problems.append(main.problem((key,), f"{key} must be a list"))
            continue
        if key != "MICRO_SERVICES" and not entries:
            problems.append(main.problem((key,), f"{key} lists no plugin"))
        loaded = []
        for i, entry in enumerate(entries):
            plugin, found, doc = _load_plugin(entry, conf_dir, display_dir, main, (key, i))
            problems += found
            documents += [doc] if doc else []
            if plugin is not None:
                loaded.append(plugin)
                plugins.append(plugin)
        data[key] = [plugin.data for plugin in loaded]

    registries, registry_problems = load_registries(
        conf_dir,
        display_dir,
        known_attributes=lambda name: name in attributes,
        openid_names=openid_names(attributes),
        internal_attributes={"attributes": attributes},
    )
    problems += registry_problems
    facts = PluginFacts(
        backends=frozenset(b.get("name") for b in data.get("BACKEND_MODULES") or []),
        organisations=frozenset(registries.organisations.by_id) if registries else None,
    )
    for plugin in plugins:
        check = getattr(plugin.cls, "cross_check", None)
        if check is not None and isinstance(plugin.data.get("config"), dict):
            for loc, message in check(plugin.data["config"], facts):
                problems.append(plugin.doc.problem((*plugin.base, "config", *loc), message))
    if problems:
        return None, problems
    return ProxyConfig(conf_dir, data, documents), []


def require_proxy_config(conf_dir: Path) -> ProxyConfig:
    config, problems = load_proxy_config(conf_dir)
    if config is None:
        raise ConfigError(problems)
    return config
