"""Exceptions raised by chaingraph.

Every error a user can cause derives from :class:`ChaingraphError` and says what
was wrong and where: the file, and where it applies the row, the column or key.
"""

from __future__ import annotations


class ChaingraphError(Exception):
    """Root of every chaingraph error."""


class DeclarationError(ChaingraphError):
    """A declaration (schema, loader mapping, saved query) is malformed.

    Raised before any data is touched; the message names the file, the key
    and what would have been valid.
    """

    def __init__(self, file, key, message):
        self.file, self.key = str(file), key
        super().__init__(f"{file}: {key}: {message}")


class InvalidValue(ChaingraphError):
    """A value cannot be cleaned into its type (e.g. letters in a card number)."""


class ReadError(ChaingraphError):
    """A file cannot be read at all (missing, empty, no header, unknown format).

    Raised per file: the other files of a load still load.
    """

    def __init__(self, path, message, row=None, column=None):
        self.path, self.row, self.column = str(path), row, column
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class UnrecognisedFile(ReadError):
    """No loader mapping matches a file's headers."""


class StoreError(ChaingraphError):
    """A store is missing, corrupt or of another version."""


class ReferenceError_(ChaingraphError):
    """Base for reference resolution errors (see :class:`UnknownReference`)."""


class UnknownReference(ReferenceError_):
    """A reference such as ``bank_account:6222…`` names nothing in the store."""

    def __init__(self, ref, candidates=()):
        self.ref, self.candidates = ref, list(candidates)
        msg = f"no entity matches {ref!r}"
        if self.candidates:
            msg += "; did you mean: " + ", ".join(self.candidates[:10])
        super().__init__(msg)


class AmbiguousReference(ReferenceError_):
    """A bare identifier matches entities of several kinds."""

    def __init__(self, ref, candidates):
        self.ref, self.candidates = ref, list(candidates)
        super().__init__(
            f"{ref!r} is ambiguous; say which: " + ", ".join(self.candidates[:10])
        )


class BackendError(ChaingraphError):
    """A graph server (Neo4j) cannot be reached or refused us."""
