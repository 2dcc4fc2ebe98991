"""The Slack side: the Bolt app, the Slack contract, Block Kit views, what phishbot says and to whom.

What other layers use: `contract` (every command, callback and action id), `cards` (Block Kit as pure
functions), `notifier.SlackNotifier`, `directory.SlackDirectory`, `authz.Authorizer`, `files.SlackFiles`,
`safe_text` (the one escaping funnel), `errors` and `i18n` (words for people), `bolt_app.build_bolt_app`.
Imported by module: the notifier needs the store, and re-exporting it here would pull the store into
everything that only wants an id or a view.
"""
