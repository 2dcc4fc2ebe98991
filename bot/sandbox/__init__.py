"""Loopback stand-ins for Microsoft Graph, the identity platform and Slack, for the demo and the tests."""
