"""RFC 5256 section 2.1 base subject, for SORT SUBJECT and THREAD=REFERENCES/ORDEREDSUBJECT."""

from __future__ import annotations

import re

_WS = re.compile(r"[ \t\r\n]+")
_TRAILER = re.compile(r"(?:\s|\(fwd\))+\Z", re.I)
_BLOB = r"\[[^\[\]]*\]\s*"
_REFWD = re.compile(r"\s*(?:" + _BLOB + r")*(?:re|fwd?)\s*(?:" + _BLOB + r")?:\s*", re.I)
_BLOB_ONLY = re.compile(r"\s*" + _BLOB, re.I)


def base_subject(subject: str) -> str:
    """The subject with Re:/Fwd:/[list] leaders and (fwd) trailers removed, case-folded."""
    s = _WS.sub(" ", subject).strip()
    while True:
        previous = s
        s = _TRAILER.sub("", s)  # step 2
        while True:  # steps 3 and 4
            before = s
            m = _REFWD.match(s)
            if m:
                s = s[m.end() :]
            m = _BLOB_ONLY.match(s)
            if m and s[m.end() :]:
                s = s[m.end() :]
            if s == before:
                break
        if s.lower().startswith("[fwd:") and s.endswith("]"):  # step 5
            s = s[5:-1].strip()
            continue
        if s == previous:
            break
    return s.strip().casefold()
