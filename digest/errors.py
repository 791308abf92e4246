"""The exceptions digest raises for things a user can fix.

    DigestError                 anything the CLI reports as one line, no traceback
    ├── ConfigError             the config file is missing, unreadable or invalid (exit 2)
    ├── UsageError              a command was called wrongly (exit 2)
    ├── SourceError             one feed or page could not be fetched or parsed
    │   └── RefusedAddress      (digest.collect.guard) an internal address not allowed
    ├── TemplateError           a template is missing or broken
    ├── DeliveryError           a message could not be handed to the transport
    │   ├── TemporaryFailure    worth retrying later (SMTP 4xx, dropped connection)
    │   ├── PermanentFailure    not worth retrying (SMTP 5xx, bad address)
    │   ├── UnknownOutcome      handed over, but no reply to the end of DATA in time:
    │   │                       maybe delivered, maybe not (retried once, later)
    │   └── TransportUnavailable  nothing can be sent now (server unreachable, TLS or
    │                           login refused): the run stops, the rest wait for the next
    └── StoreError              the data directory or database is unusable
        └── ForeignDatabase     the database file is empty or not digest's (exit 2)

Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits with ``exit_code``."""

    exit_code = 1


class ConfigError(DigestError):
    """Every problem found in one config file, reported together."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class UsageError(DigestError):
    exit_code = 2


class SourceError(DigestError):
    pass


class TemplateError(DigestError):
    pass


class DeliveryError(DigestError):
    pass


class TemporaryFailure(DeliveryError):
    pass


class Throttled(TemporaryFailure):
    """The server asks every sender to slow down (421, 454; 450-452 that say so): not this
    recipient's fault. The send pauses and retries without counting an attempt."""


class PermanentFailure(DeliveryError):
    pass


class UnknownOutcome(DeliveryError):
    """The whole message went out but its reply never came: it may have been accepted."""


class TransportUnavailable(DeliveryError):
    """Not about one message: the server cannot be reached or refuses us altogether."""


class StoreError(DigestError):
    pass


class MailboxError(DigestError):
    """The bounce mailbox stopped answering part-way (a dropped IMAP connection, an unreadable
    folder): what was read before is applied, the rest waits for the next run."""


class ForeignDatabase(StoreError):
    """The data directory's database file is empty, not SQLite, or another program's.

    Never treated as a new store: that would hide the loss of subscribers and history.
    """

    exit_code = 2
