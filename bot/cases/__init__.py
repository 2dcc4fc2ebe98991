"""What happens to a case: intake, submissions and verdicts, responder actions, remediation, block list, digest.

The services are imported by their modules (`bot.cases.intake.Intake`, …), built once by `bot.services`:
re-exporting them here would make importing any one of them import them all. What other layers use:
`intake.Intake`, `submissions.FollowUp`, `responder_actions.CaseActions`, `remediation.Remediations`,
`remediation_runner.RemediationRunner`, `block_list.BlockList`, `reporter_requests.ReporterRequests`,
`digest.Digest`, and `sweep.Sweep` with `sweep.periodic_steps` — the one list of periodic work.
"""
