"""User-facing errors: one clear line saying what is wrong and what to do."""

from __future__ import annotations


class EdgeError(Exception):
    """An error caused by input or environment, shown to the user as one line (no traceback).

    ``hint`` says what to do about it; the CLI prints ``error: <message> (<hint>)``.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class MissingDependency(EdgeError):
    """An optional package is needed for this step; the hint names what to install."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        hint = f"pip install 'edgemnv2[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{package} is not installed{what}", hint)
        self.package = package
