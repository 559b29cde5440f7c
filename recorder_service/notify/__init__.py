"""Notifications: typed, signed, durable messages about what the recorder does.

``catalogue`` names the event types and their payloads; ``sources`` turns the recorder's own
happenings (session events, availability changes, retention, disk) into notifications;
``notifier`` decides per target (``rules``: filters, cooldowns, queue cap) and writes them to
the ``outbox`` in the caller's transaction; ``dispatcher`` delivers them (``webhook``,
``apprise_sender``) with retries until they are delivered or dead. ``servicer`` is the gRPC
adapter, ``wiring`` puts it together. docs/NOTIFICATIONS.md is the user's side of it.
"""
