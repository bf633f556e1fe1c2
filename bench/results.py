"""bench/RESULTS.md holds one section per benchmark, each headed `# <Name> benchmark`; a
benchmark rewrites its own section and keeps the others where they are."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, section: str) -> None:
    """Put `section` (which starts with the line `heading`) in place of the section under
    that heading, or at the end when there is none."""
    existing = path.read_text() if path.is_file() else ""
    body = section.strip("\n") + "\n"
    if existing.startswith(heading + "\n"):
        existing = "\n" + existing
    before, found, after = existing.partition("\n" + heading + "\n")
    if not found:
        path.write_text(existing.rstrip("\n") + ("\n\n" if existing.strip() else "") + body)
        return
    later = after.find("\n# ")
    rest = after[later:] if later >= 0 else ""
    joined = (before.rstrip("\n") + "\n\n" if before.strip() else "") + body + rest
    path.write_text(joined)
