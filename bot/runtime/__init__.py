"""A running phishbot process: start and stop, web server, scheduler, leadership, logs, metrics, doctor.

Imported by module, never re-exported here: `process.Runtime` imports the services and the listeners, while
`clock`, `lifecycle`, `logs` and `metrics` are imported by the services themselves, so a package that
re-exported both would import itself in a circle.
"""
