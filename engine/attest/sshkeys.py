"""OpenSSH ed25519 keys: load a signing key, its public key line and fingerprint.

The fingerprint is the one `ssh-keygen -lf` prints ("SHA256:" + unpadded base64 of the
SHA-256 of the key's wire blob); it is the DSSE keyid, so a user can match an envelope
to a line of allowed_signers by eye.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.attest.errors import AttestError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ED25519 = "ssh-ed25519"


def fingerprint(blob: bytes) -> str:
    """OpenSSH SHA256 fingerprint of a public key wire blob."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def ssh_string(data: bytes) -> bytes:
    """RFC 4251 string: 32-bit big-endian length, then the bytes."""
    return struct.pack(">I", len(data)) + data


def read_ssh_strings(blob: bytes) -> list[bytes]:
    """Split a wire blob into its RFC 4251 strings; ValueError if it is truncated."""
    out, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated length")
        (size,) = struct.unpack_from(">I", blob, offset)
        offset += 4
        if offset + size > len(blob):
            raise ValueError("truncated string")
        out.append(blob[offset:offset + size])
        offset += size
    return out


@dataclass(frozen=True)
class PublicKey:
    """An OpenSSH public key: its type name and wire blob (what the base64 field holds)."""

    key_type: str
    blob: bytes

    @classmethod
    def from_ed25519_raw(cls, raw: bytes) -> PublicKey:
        return cls(ED25519, ssh_string(ED25519.encode()) + ssh_string(raw))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    @property
    def line(self) -> str:
        """"ssh-ed25519 AAAA…", the key part of an allowed_signers or .pub line."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"

    @property
    def ed25519_raw(self) -> bytes:
        """The 32 key bytes; AttestError if this is not a well-formed ed25519 key."""
        try:
            parts = read_ssh_strings(self.blob)
        except ValueError:
            parts = []
        if self.key_type != ED25519 or len(parts) != 2 or parts[0] != ED25519.encode() \
                or len(parts[1]) != 32:
            raise AttestError(f"{self.fingerprint} is not a well-formed {ED25519} key")
        return parts[1]

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """True when `signature` is this ed25519 key's signature of `message`."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = Ed25519PublicKey.from_public_bytes(self.ed25519_raw)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def load_signing_key(path: str | Path, *, passphrase: str | bytes | None = None) -> Ed25519PrivateKey:
    """Read an OpenSSH ed25519 private key file, with clear errors for the usual mistakes."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AttestError(f"cannot read signing key {path}: {exc.strerror}") from None
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        try:
            key = load_ssh_private_key(data, password)
        except TypeError:
            if password is None:
                raise AttestError(
                    f"signing key {path} is protected by a passphrase: pass the passphrase, "
                    "or use a key made with `ssh-keygen -t ed25519 -N ''`"
                ) from None
            key = load_ssh_private_key(data, None)  # a passphrase for a plain key is harmless
    except UnsupportedAlgorithm:
        raise AttestError(
            f"signing key {path} is passphrase-protected and reading it needs the bcrypt "
            "package: pip install bcrypt"
        ) from None
    except ValueError as exc:
        if "checksum" in str(exc):
            raise AttestError(f"the passphrase for signing key {path} is wrong") from None
        raise AttestError(
            f"{path} is not an OpenSSH private key ({exc}); make one with `ssh-keygen -t ed25519`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AttestError(
            f"signing key {path} is {type(key).__name__.removesuffix('PrivateKey')}, but "
            "changegate signs only with ed25519 keys: make one with `ssh-keygen -t ed25519`"
        )
    return key


def public_key_of(key: Ed25519PrivateKey) -> PublicKey:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return PublicKey.from_ed25519_raw(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key(path: str | Path, *, passphrase: str | bytes | None = None) -> PublicKey:
    """The public half of a signing key file."""
    return public_key_of(load_signing_key(path, passphrase=passphrase))


def public_key_line(path: str | Path, *, passphrase: str | bytes | None = None) -> str:
    """"ssh-ed25519 AAAA…" for a signing key file, ready to follow principals in allowed_signers."""
    return public_key(path, passphrase=passphrase).line
