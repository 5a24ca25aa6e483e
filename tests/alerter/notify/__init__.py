"""Tests of the notification pipeline (alerter.notify)."""
