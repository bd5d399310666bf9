"""Shared plumbing for the Pupilpost services: settings, bus, db, crypto, auth, telemetry, runner."""
