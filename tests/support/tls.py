"""Test certificates, made with the openssl command (Debian's OpenSSL 3)."""

from __future__ import annotations

import subprocess
from pathlib import Path

OPENSSL = "/usr/bin/openssl"

# The openssl configuration of a test CA: `openssl ca` because it is the one OpenSSL 3.0 command
# that sets a certificate's start date (`req -x509` and `x509` start it now). Callers add their
# extension sections.
CA_CONFIG = """
[req]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes
[req_dn]
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_cn
email_in_dn = no
string_mask = utf8only
[policy_cn]
commonName = supplied
"""


def openssl(work: Path, *args: str) -> None:
    """``openssl args`` in ``work``, failing with what it said if it fails."""
    try:
        subprocess.run(
            [OPENSSL, *args], cwd=work, check=True, capture_output=True, text=True, timeout=60
        )
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"openssl {args[0]} failed:\n{error.stderr}") from error
