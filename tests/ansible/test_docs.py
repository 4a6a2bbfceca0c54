"""Generated documentation stays current: the error-code table of docs/operations.md."""

from __future__ import annotations

import subprocess
import sys

from ansible_helpers import REPO


def test_error_code_table_lists_every_code():
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "tools" / "error_codes.py"), "--check"],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
