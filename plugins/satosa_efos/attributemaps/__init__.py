"""pysaml2 attribute maps for the Swedish attribute names (DOMAIN.md §4).

pysaml2's built-in maps send ``employeeHsaId`` under the wrong OID, so the project ships its
own. Each profile lives in its own folder because pysaml2 loads *every* module of an
``attribute_map_dir`` and two maps of one NameFormat would fight over the outgoing name:

- ``sambi/``: outgoing names of the Sambi / Inera profile;
- ``swedish_eid/``: outgoing names of the Swedish eID framework (``urn:oid:``);
- ``incoming/``: accepts both profiles' names, for the proxy's backend and for SPs.

The FriendlyNames are the names used in SATOSA's ``internal_attributes.yaml`` ``saml`` lists.
"""

from pathlib import Path

MAPS_DIR = Path(__file__).parent
SAMBI = str(MAPS_DIR / "sambi")
SWEDISH_EID = str(MAPS_DIR / "swedish_eid")
INCOMING = str(MAPS_DIR / "incoming")
