"""Clients for the outside systems dispatch delivers through: one module per system.

email.py (SMTP, aiosmtplib) and bounces.py (RFC 3464 DSNs in, aiosmtpd), sms.py
(SMPP 3.4, smpp34) and sms_receipts.py, push.py (Web Push, pywebpush). Every
client raises base.TransientFailure or base.PermanentFailure with messages that
are safe to log. Modules are imported on use, so a process that sends no SMS
never loads the SMPP runtime.
"""
from services.dispatch.providers.base import (
    PermanentFailure,
    ProviderFailure,
    SubscriptionGone,
    TokenBucket,
    TransientFailure,
)

__all__ = ["PermanentFailure", "ProviderFailure", "SubscriptionGone", "TokenBucket", "TransientFailure"]
