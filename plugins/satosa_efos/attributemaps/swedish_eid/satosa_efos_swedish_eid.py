from satosa_efos.attributemaps.names import SWEDISH_EID, attribute_map

MAP = attribute_map(SWEDISH_EID)
