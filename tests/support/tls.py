"""Test certificates, made with the openssl command (Debian's OpenSSL 3)."""

from __future__ import annotations

import subprocess
from pathlib import Path

OPENSSL = "/usr/bin/openssl"


def openssl(work: Path, *args: str) -> None:
    """``openssl args`` in ``work``, failing with what it said if it fails."""
    try:
        subprocess.run(
            [OPENSSL, *args], cwd=work, check=True, capture_output=True, text=True, timeout=60
        )
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"openssl {args[0]} failed:\n{error.stderr}") from error
