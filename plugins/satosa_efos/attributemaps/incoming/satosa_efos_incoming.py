from satosa_efos.attributemaps.names import ADFS, SAMBI, SWEDISH_EID, attribute_map

# Outgoing names are irrelevant here (incoming only); all profiles are accepted.
MAP = attribute_map(SWEDISH_EID, SAMBI, ADFS)
