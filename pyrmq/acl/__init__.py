"""RocketMQ 4.9's plain ACL: plain_acl.yml parsing (config), the broker-side check (validator,
pure), the client-side signer (sign) and the hot-reloaded file (watch)."""

from pyrmq.acl.sign import SessionCredentials, sign

__all__ = ["SessionCredentials", "sign"]
