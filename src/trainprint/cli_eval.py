"""Commands: placeholder until its issue lands."""

from trainprint.cli_app import app  # noqa: F401
