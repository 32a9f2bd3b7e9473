"""Errors a user can cause. Scripts print them as one line and exit non-zero."""


class MetaF2NError(Exception):
    """Base class: a problem with the user's input, files or flags, not a bug."""


class WeightsError(MetaF2NError):
    """A weights file is missing, unreadable, unsafe or does not fit the model."""


class InputError(MetaF2NError):
    """An input image, face pair or folder is missing or unusable."""


class ConfigError(MetaF2NError):
    """Flags that contradict each other or name things that do not exist."""


class OutputError(MetaF2NError):
    """An output file or checkpoint cannot be written (no space left, file too large, no permission)."""


class BackendError(MetaF2NError):
    """The inference backend asked for (``--backend openvino``) cannot run here."""
