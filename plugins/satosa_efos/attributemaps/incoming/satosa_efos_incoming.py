from satosa_efos.attributemaps.names import SAMBI, SWEDISH_EID, attribute_map

# Outgoing names are irrelevant here (incoming only); both profiles are accepted.
MAP = attribute_map(SWEDISH_EID, SAMBI)
