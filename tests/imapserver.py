"""A real IMAP server for the tests: Debian's Dovecot, on 127.0.0.1 over TLS, in a temp folder.

One user (``bounces``) whose INBOX is a maildir the test fills directly. Dovecot runs its
mail processes as ``nobody``; the folder is handed to that user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.mailserver import Certificate

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USER, PASSWORD = "bounces", "imap-password-for-tests"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
first_valid_uid = 1
mail_location = maildir:{root}/home/%u/Maildir
auth_mechanisms = plain
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
"""


@dataclass
class ImapServer:
    port: int
    maildir: Path
    ca_file: Path

    @property
    def url(self) -> str:
        return f"imaps://{USER}@127.0.0.1:{self.port}/INBOX"

    def deliver(self, name: str, data: bytes) -> None:
        path = self.maildir / "new" / name
        path.write_bytes(data)
        shutil.chown(path, "nobody", "nogroup")


@contextmanager
def running_dovecot(certificate: Certificate) -> Iterator[ImapServer]:
    """Dovecot in a folder of its own: pytest's are private to root, and Dovecot's auth and
    mail processes run as other users."""
    assert DOVECOT is not None
    root = Path(tempfile.mkdtemp(prefix="digest-imap-"))
    root.chmod(0o755)
    try:
        with _dovecot(root, certificate) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _dovecot(root: Path, certificate: Certificate) -> Iterator[ImapServer]:
    assert DOVECOT is not None
    port = _free_port()
    for folder in (
        "run",
        "state",
        f"home/{USER}/Maildir/new",
        f"home/{USER}/Maildir/cur",
        f"home/{USER}/Maildir/tmp",
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    config = root / "dovecot.conf"
    shutil.copy(certificate.cert, root / "server.pem")
    shutil.copy(certificate.key, root / "server.key")
    config.write_text(
        CONFIG.format(root=root, cert=root / "server.pem", key=root / "server.key", port=port),
        encoding="utf-8",
    )
    for path in (root / "home").rglob("*"):
        shutil.chown(path, "nobody", "nogroup")
    shutil.chown(root / "home", "nobody", "nogroup")
    subprocess.run([DOVECOT, "-c", str(config)], check=True, timeout=30)
    try:
        _wait_for_port(port)
        yield ImapServer(port, root / "home" / USER / "Maildir", certificate.cert)
    finally:
        pid = int((root / "run" / "master.pid").read_text().strip())
        os.kill(pid, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"dovecot did not listen on {port}")
