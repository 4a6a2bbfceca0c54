"""From the HSA model to the proxy's internal attributes (DOMAIN.md §4), applying release rules.

The release rules of DOMAIN.md §6 live here, once, rather than in each directory client: a
protected person (skyddad personuppgift) never has personnummer or contact data released, a
feigned person is treated as unknown, and feigned or archived commissions are dropped. The
result uses internal names only; wire names are configuration in the attribute maps.

Commissions stay structured: :func:`person_attributes` returns them as a list, and the caller
(the micro-service, after the user picks one on the commission page) flattens the chosen one
with :func:`commission_attributes`.
"""

from __future__ import annotations

from collections.abc import Collection

from .model import Commission, Person

__all__ = [
    "COMMISSION_ATTRIBUTE_NAMES",
    "PERSON_ATTRIBUTE_NAMES",
    "commission_attributes",
    "person_attributes",
    "usable_commissions",
]

#: Every internal attribute :func:`person_attributes` may set. A caller replacing HSA data in a
#: login (e.g. after a new lookup) clears these first, so withheld values cannot linger.
PERSON_ATTRIBUTE_NAMES: tuple[str, ...] = (
    "employeeHsaId",
    "allEmployeeHsaIds",
    "givenName",
    "surname",
    "displayName",
    "mail",
    "personalIdentityNumber",
    "paTitleCode",
    "systemRole",
)

#: Every internal attribute :func:`commission_attributes` may set.
COMMISSION_ATTRIBUTE_NAMES: tuple[str, ...] = (
    "commissionHsaId",
    "commissionName",
    "commissionPurpose",
    "commissionRight",
    "healthCareUnitHsaId",
    "healthCareUnitName",
    "healthCareProviderHsaId",
    "healthCareProviderName",
)


def _purposes(purpose_filter: Collection[str] | None) -> frozenset[str] | None:
    if purpose_filter is None:
        return None
    # A bare string is a Collection[str] of its characters: refuse it rather than match nothing.
    if isinstance(purpose_filter, str):
        raise TypeError("purpose_filter must be a collection of purposes, not a single string")
    return frozenset(purpose.strip().casefold() for purpose in purpose_filter)


def usable_commissions(
    person: Person, *, purpose_filter: Collection[str] | None = None
) -> list[Commission]:
    """The commissions a login may use: not feigned, not archived, and of an allowed purpose.

    Purposes compare case-insensitively, so configuration need not match the directory's
    capitalisation ("vård och behandling"). ``None`` allows every purpose; an empty collection
    allows none. Ordered by HSA-id, whichever directory answered (LDAP defines no order of
    search results, the web service none of its list), so the commission choice page lists them
    the same way every time.
    """
    if person.feigned:
        return []
    purposes = _purposes(purpose_filter)
    return sorted(
        (
            commission
            for commission in person.commissions
            if commission.usable
            and (purposes is None or commission.purpose.strip().casefold() in purposes)
        ),
        key=lambda commission: commission.hsa_id,
    )


def person_attributes(
    person: Person, *, purpose_filter: Collection[str] | None = None
) -> tuple[dict[str, list[str]], list[Commission]]:
    """Return the person's internal attributes and their usable commissions.

    Attributes without a value are left out rather than set to ``[]``, so they do not overwrite
    what the upstream IdP asserted. ``allEmployeeHsaIds`` holds only the person's own HSA-id: a
    directory lookup knows nothing of ids the person may have in other directories.
    A feigned person yields ``({}, [])``, as if not found.
    """
    if person.feigned:
        return {}, []
    attributes: dict[str, list[str]] = {
        "employeeHsaId": [person.hsa_id],
        "allEmployeeHsaIds": [person.hsa_id],
        "givenName": [person.given_name],
        "surname": [person.surname],
        "displayName": [person.full_name],
    }
    if not person.protected:
        if person.mail:
            attributes["mail"] = [person.mail]
        if person.personal_identity_number:
            attributes["personalIdentityNumber"] = [person.personal_identity_number]
    if person.pa_title_codes:
        attributes["paTitleCode"] = list(person.pa_title_codes)
    if person.system_roles:
        attributes["systemRole"] = [str(role) for role in person.system_roles]
    return attributes, usable_commissions(person, purpose_filter=purpose_filter)


def commission_attributes(commission: Commission) -> dict[str, list[str]]:
    """Flatten one (chosen) commission into the Sambi commission attributes of DOMAIN.md §4.

    ``commissionRight`` is multi-valued, one ``activity;informationClass;scope`` per right, and
    left out when the commission carries no rights.
    """
    attributes: dict[str, list[str]] = {
        "commissionHsaId": [commission.hsa_id],
        "commissionName": [commission.name],
        "commissionPurpose": [commission.purpose],
    }
    if commission.rights:
        attributes["commissionRight"] = [str(right) for right in commission.rights]
    attributes.update(
        {
            "healthCareUnitHsaId": [commission.health_care_unit_hsa_id],
            "healthCareUnitName": [commission.health_care_unit_name],
            "healthCareProviderHsaId": [commission.health_care_provider_hsa_id],
            "healthCareProviderName": [commission.health_care_provider_name],
        }
    )
    return attributes
