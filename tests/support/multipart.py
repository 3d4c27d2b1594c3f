"""Reading a multipart/form-data body in the fake provider servers (as a real server would)."""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content: bytes
    content_type: str


def parse_multipart(
    content_type: str, raw: bytes
) -> tuple[dict[str, str], list[tuple[str, Upload]]]:
    """A multipart/form-data body's fields and its file parts (name, upload), in order."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    form: dict[str, str] = {}
    uploads: list[tuple[str, Upload]] = []
    if not message.is_multipart():
        return form, uploads
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            uploads.append((name, Upload(filename, payload, part.get_content_type())))
        else:
            form[name] = payload.decode("utf-8")
    return form, uploads
