"""Build RFC 3464 delivery status notifications (multipart/report) as a real MTA would."""
from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

_HEADERS_KEPT = ("From", "To", "Subject", "Date", "Message-ID")


def _fields(**values: str) -> Message:
    block = Message()
    for name, value in values.items():
        block[name.replace("_", "-")] = value
    return block


def build_dsn(original: bytes, *, recipient: str, return_path: str, reporting_mta: str,
              action: str = "failed", status: str = "5.1.1",
              diagnostic: str = "smtp; 550 5.1.1 Mailbox does not exist") -> bytes:
    """A DSN telling `return_path` that delivery of `original` to `recipient` failed or is delayed."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = return_path
    report["Subject"] = ("Undelivered Mail Returned to Sender" if action == "failed"
                         else "Delayed Mail (still being retried)")
    report["Date"] = format_datetime(datetime.now(UTC))
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"
    human = ("could not be delivered" if action == "failed" else "has not been delivered yet")
    report.attach(MIMEText(f"This is the mail system at host {reporting_mta}.\n\n"
                           f"Your message {human} to one or more recipients.\n", "plain"))
    status_part = Message()
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload([
        _fields(Reporting_MTA=f"dns; {reporting_mta}", Arrival_Date=format_datetime(datetime.now(UTC))),
        _fields(Final_Recipient=f"rfc822; {recipient}", Original_Recipient=f"rfc822; {recipient}",
                Action=action, Status=status, Diagnostic_Code=diagnostic),
    ])
    report.attach(status_part)
    parsed = message_from_bytes(original, policy=policy.compat32)
    headers = "".join(f"{name}: {parsed[name]}\n" for name in _HEADERS_KEPT if parsed[name])
    headers_part = MIMEText(headers, "rfc822-headers")
    report.attach(headers_part)
    return report.as_bytes()
