"""satosa-efos: SATOSA plugins for the regional identity proxy of Västra Götaland."""

import warnings

__version__ = "0.1.0"

# pysaml2 7.5 imports a cipher mode that cryptography has deprecated. Not ours to fix, and the
# warning on every command and in every worker would bury what an operator needs to read.
warnings.filterwarnings("ignore", message="CFB has been moved")
