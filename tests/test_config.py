"""Settings: the signing key a first start generates when none is configured."""

from __future__ import annotations

import stat
from pathlib import Path

from teamgate.config import SECRET_KEY_FILE, Settings


def test_a_missing_signing_key_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    key = Settings(data_dir=tmp_path / "data", secret_key=None).signing_key

    path = tmp_path / "data" / SECRET_KEY_FILE
    assert path.read_bytes().strip() == key
    assert len(key) >= 64  # 48 random bytes, base64url
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [SECRET_KEY_FILE]  # no temporary left
    # The next start (or another worker) reads the same key instead of making a new one.
    assert Settings(data_dir=tmp_path / "data", secret_key=None).signing_key == key


def test_a_configured_signing_key_writes_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="configured-" + "k" * 32)

    assert settings.signing_key == b"configured-" + b"k" * 32
    assert not (tmp_path / SECRET_KEY_FILE).exists()
