"""A running phishbot process: start and stop, web server, scheduler, leadership, logs, metrics, doctor."""
