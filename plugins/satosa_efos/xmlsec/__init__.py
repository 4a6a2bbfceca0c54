"""XML security: pysaml2's crypto backend in-process (python-xmlsec) or through the ``xmlsec1``
program, both behind one signature and encryption policy (docs/performance.md); signed metadata.
"""
