"""XML security: signed metadata now; the in-process signing backend for pysaml2 later."""
