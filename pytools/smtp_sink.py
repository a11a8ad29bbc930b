"""A real SMTP server for tests (aiosmtpd): every message it accepts becomes one JSON file in a
folder (envelope recipients, subject and the decoded plain-text body), written whole and then
renamed, so a reader never sees half a message.

    python3 pytools/smtp_sink.py --port 2525 --dir /tmp/mail

Prints "ready" once it accepts connections and runs until its standard input closes.
"""

import argparse
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(message.get("subject", "")),
            "text": body.get_content() if body is not None else "",
        }
        self.count += 1
        name = "%020d-%06d.json" % (time.time_ns(), self.count)
        part = os.path.join(self.folder, name + ".part")
        with open(part, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(part, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
