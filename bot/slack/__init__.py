"""The Slack side: the Bolt app, the Slack contract, Block Kit views, what phishbot says and to whom."""
