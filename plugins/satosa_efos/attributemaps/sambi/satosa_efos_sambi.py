from satosa_efos.attributemaps.names import SAMBI, attribute_map

MAP = attribute_map(SAMBI)
