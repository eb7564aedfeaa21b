"""Model runtimes behind one interface (tutor.runtime.base.Model), and the worker that runs
them off the event loop. Runtimes are imported only when loaded: torch is heavy.
"""

from typing import TYPE_CHECKING

from tutor.runtime.base import Model

if TYPE_CHECKING:  # settings import this package's identity of the packaged model
    from tutor.settings import Settings


def load_configured(settings: "Settings") -> Model:
    """The model the settings ask for, in their runtime."""
    if settings.runtime == "server":
        from tutor.runtime.server import connect_server

        return connect_server(settings)
    if settings.runtime == "llamacpp":
        from tutor.runtime.llamacpp import load_llamacpp

        return load_llamacpp(settings.model, settings.cache_dir)
    from tutor.runtime.transformers import load_model

    return load_model(
        settings.model, settings.quantization, settings.cache_dir, settings.prompt_lookup
    )
