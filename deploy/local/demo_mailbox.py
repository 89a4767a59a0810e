"""`make run`'s mailbox: a local SMTP server (aiosmtpd) the notifier sends e-mail to, so the demo
shows what clients and managers would receive. Each message is kept as `.data/mail/<n>.eml`
and noted, one line each, in `.data/logs/mail.log` (to, subject, attachments)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class DemoMailbox:
    def __init__(self, folder: Path, log_path: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        folder.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        numbers = itertools.count(len(list(folder.glob("*.eml"))) + 1)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                number = next(numbers)
                (folder / f"{number:05d}.eml").write_bytes(envelope.content)
                mail = message_from_bytes(envelope.content, policy=policy.default)
                attached = [part.get_filename() for part in mail.iter_attachments()]
                line = f"{datetime.now(UTC).isoformat(timespec='seconds')} #{number:05d} to {mail['To']}: {mail['Subject']}"
                if attached:
                    line += f" (attached: {', '.join(str(a) for a in attached)})"
                with log_path.open("a", encoding="utf-8") as log:
                    log.write(line + "\n")
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self) -> DemoMailbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
