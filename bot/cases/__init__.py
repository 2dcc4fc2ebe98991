"""What happens to a case: intake, submissions and verdicts, responder actions, remediation, block list, digest."""
