"""The shared kernel: mechanisms every service uses (envelope, topics, outbox, inbox, telemetry...).

It holds no business rules and never imports a service.
"""
