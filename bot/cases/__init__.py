"""What happens to a case: intake (Slack's doors and Outlook's Report button), submissions and verdicts, responder
actions (Mark as … and notify among them), remediation, block list, the App Home, digest.

The services are imported by their modules (`bot.cases.intake.Intake`, …), built once by `bot.services`:
re-exporting them here would make importing any one of them import them all. What other layers use:
`intake.Intake`, `submissions.FollowUp`, `responder_actions.CaseActions`, `remediation.Remediations`,
`remediation_runner.RemediationRunner`, `block_list.BlockList`, `reporter_requests.ReporterRequests`,
`user_reports.UserReportFollower`, `reviews.Reviews`, `app_home.AppHome`, `digest.Digest`, and `sweep.Sweep` with
`sweep.periodic_steps` — the one list of periodic work.
"""
