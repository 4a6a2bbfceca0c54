"""The wire names of DOMAIN.md §4, as data: FriendlyName -> URI, per profile."""

URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

SAMBI = {
    "personalIdentityNumber": "http://sambi.se/attributes/1/personalIdentityNumber",
    "employeeHsaId": "http://sambi.se/attributes/1/employeeHsaId",
    "allEmployeeHsaIds": "urn:allEmployeeHsaIds",
    "givenName": "http://sambi.se/attributes/1/givenName",
    "surname": "http://sambi.se/attributes/1/surname",
    "organizationName": "http://sambi.se/attributes/1/organizationName",
    "organizationIdentifier": "http://sambi.se/attributes/1/organizationIdentifier",
    "commissionHsaId": "http://sambi.se/attributes/1/commissionHsaId",
    "commissionName": "http://sambi.se/attributes/1/commissionName",
    "commissionPurpose": "http://sambi.se/attributes/1/commissionPurpose",
    "commissionRight": "http://sambi.se/attributes/1/commissionRight",
    "healthCareProviderHsaId": "http://sambi.se/attributes/1/healthCareProviderHsaId",
    "healthCareProviderName": "http://sambi.se/attributes/1/healthCareProviderName",
    "healthCareUnitHsaId": "http://sambi.se/attributes/1/healthCareUnitHsaId",
    "healthCareUnitName": "http://sambi.se/attributes/1/healthCareUnitName",
    "systemRole": "http://sambi.se/attributes/1/systemRole",
    "paTitleCode": "http://sambi.se/attributes/1/paTitleCode",
    "levelOfAssurance": "urn:sambi:names:attribute:levelOfAssurance",
    "authnMethod": "urn:sambi:names:attribute:authnMethod",
    # Not in Sambi's list; sent with the Swedish eID names so that no value is dropped.
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
}

SWEDISH_EID = {
    "personalIdentityNumber": "urn:oid:1.2.752.29.4.13",
    "employeeHsaId": "urn:oid:1.2.752.29.6.2.1",
    "givenName": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "o": "urn:oid:2.5.4.10",
    "organizationIdentifier": "urn:oid:2.5.4.97",
    "orgAffiliation": "urn:oid:1.2.752.201.3.1",
    "userCertificate": "urn:oid:1.2.752.201.3.10",
}


#: Names Microsoft ADFS / Entra ID release (municipal IdPs, DOMAIN.md §9); accepted, never sent.
ADFS = {
    "userPrincipalName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "mail": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "givenName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "sn": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "displayName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
}


def attribute_map(to_names: dict[str, str], *accepted: dict[str, str]) -> dict:
    """A pysaml2 attribute map sending ``to_names`` and accepting those plus ``accepted``."""
    fro: dict[str, str] = {}
    for names in (to_names, *accepted):
        for friendly, uri in names.items():
            fro.setdefault(uri, friendly)
    return {"identifier": URI, "to": dict(to_names), "fro": fro}
