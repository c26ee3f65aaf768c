"""Errors raised by the face engine."""


class EngineUnavailable(RuntimeError):
    """The face engine cannot run: a weight file or a package is missing.

    The message names what is missing and how to provide it; it is safe to show
    to an operator (it contains file names and paths, no user data).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageDecodeError(ValueError):
    """The uploaded bytes are not an image Pillow can decode."""
