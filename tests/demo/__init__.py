"""Tests of the demo (agentaudit.demo)."""
