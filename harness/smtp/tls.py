"""TLS client contexts that verify a server against a given CA (or the system store)."""

from __future__ import annotations

import ssl

__all__ = ["client_context", "legacy_only_context"]


def client_context(ca_file: str = "") -> ssl.SSLContext:
    """A strict client context: chain and host name verified, TLS 1.2 or newer."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def legacy_only_context() -> ssl.SSLContext:
    """A context that offers nothing newer than TLS 1.1, to prove a server refuses it.

    Security level 0 lets OpenSSL on this side actually offer the old versions, so a refusal
    comes from the server and not from our own library.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx
