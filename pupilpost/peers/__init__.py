"""Local stand-ins for the outside world (SMTP, SMPP, Web Push), speaking the real protocols."""
