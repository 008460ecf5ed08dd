"""Plug-ins: one mechanism for every kind of extension point.

Built-ins and third-party packages register the same way, through pluggy hooks (the
pattern of Simon Willison's ``llm``): a module (or object) with ``@hookimpl`` functions
named after the hooks below; each is called once with a ``register`` function. The
built-ins are ordinary plug-ins (``BUILTIN_PLUGINS``); third-party packages are found
through the ``h2ogpt`` entry point group::

    # pyproject.toml of a plug-in package
    [project.entry-points.h2ogpt]
    my_plugin = "my_package.plugin"      # a module with @hookimpl functions

    # my_package/plugin.py
    from h2ogpt.plugins import hookimpl

    @hookimpl
    def register_outcome_rewards(register):
        register(RewardSpec("shortest", lambda task: Shortest(), "prefers short answers"))

Each kind has a :class:`Registry`; names given in flags and request fields are validated
against it, and ``--help`` and the API schema list what is registered. Registries load on
first use, so importing h2ogpt stays cheap (a plug-in must not import heavy libraries at
module level: its factories import them when called).
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

import pluggy

from h2ogpt.errors import ConfigError

log = logging.getLogger(__name__)

PROJECT = "h2ogpt"
ENTRY_POINT_GROUP = "h2ogpt"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# The built-in plug-ins, registered before any third-party one (so a plug-in may replace a
# built-in entry by registering the same name, with a warning in the log).
BUILTIN_PLUGINS = (
    "h2ogpt.backends.builtin",
    "h2ogpt.scaling.builtin",
    "h2ogpt.documents.stores.builtin",
    "h2ogpt.documents.loaders.builtin",
    "h2ogpt.speech.builtin",
)


# --- hook specifications: one per kind -------------------------------------------------------
@hookspec
def register_backends(register: Callable[[Any], None]) -> None:
    """Register backends: ``register(BackendSpec(...))`` (h2ogpt.backends.selection). A local
    engine is chosen with ``--engine=NAME``, a remote kind with ``--inference_server=NAME:URL``."""


@hookspec
def register_scaling_algorithms(register: Callable[[Any], None]) -> None:
    """Register scaling algorithms: ``register(AlgorithmSpec(...))`` (h2ogpt.scaling.specs),
    chosen with ``scaling_algorithm=NAME``."""


@hookspec
def register_outcome_rewards(register: Callable[[Any], None]) -> None:
    """Register outcome rewards (a score per whole answer): ``register(RewardSpec(...))``,
    chosen with ``outcome_reward=NAME``."""


@hookspec
def register_process_rewards(register: Callable[[Any], None]) -> None:
    """Register process rewards (a score per step): ``register(RewardSpec(...))``, chosen
    with ``process_reward=NAME``."""


@hookspec
def register_answer_projections(register: Callable[[Any], None]) -> None:
    """Register what self-consistency votes on: ``register(ProjectionSpec(...))``, chosen with
    ``answer_projection=NAME``."""


@hookspec
def register_vector_stores(register: Callable[[Any], None]) -> None:
    """Register vector stores: ``register(VectorStoreSpec(...))``
    (h2ogpt.documents.stores.base), chosen with ``--db_type=NAME``."""


@hookspec
def register_loaders(register: Callable[[Iterable[str] | str, Any], None]) -> None:
    """Register document loaders: ``register([".ext", ...], loader)`` where ``loader`` maps a
    ``Source`` to a list of Documents (h2ogpt.documents.loaders.registry)."""


@hookspec
def register_speech_to_text(register: Callable[[Any], None]) -> None:
    """Register speech-to-text engines: ``register(SpeechEngineSpec(...))`` (h2ogpt.speech.specs).
    The engine whose ``locate`` accepts ``--asr_model`` serves it (plug-ins are asked first)."""


@hookspec
def register_text_to_speech(register: Callable[[Any], None]) -> None:
    """Register text-to-speech engines: ``register(SpeechEngineSpec(...))`` (h2ogpt.speech.specs).
    The engine whose ``locate`` accepts ``--tts_model`` serves it (plug-ins are asked first)."""


T = TypeVar("T")


class UnknownPlugin(ConfigError):
    """A name that no registered plug-in of that kind has."""


@dataclass(frozen=True)
class Registered(Generic[T]):
    name: str
    value: T
    plugin: str  # the plug-in that registered it


class Registry(Generic[T]):
    """The registered plug-ins of one kind, by name.

    A kind's hooks run the first time the kind is used, so a command that never touches
    (say) document loaders never imports them.
    """

    def __init__(self, kind: str, hook: str, adder: Callable[..., Callable] | None = None) -> None:
        self.kind = kind
        self.hook = hook
        self._entries: dict[str, Registered[T]] = {}
        self._collected = False
        # adder(registry, plugin_name) -> the ``register`` function a hook receives
        self._adder = adder or (lambda registry, plugin: lambda spec: registry.add(spec.name, spec, plugin))

    def add(self, name: str, value: T, plugin: str = "") -> None:
        """Register ``value`` under ``name``; a later registration of a name replaces it.

        Called from code (not from a hook), it first collects the plug-ins' entries, so
        that what code registers comes after, and wins over, the built-ins."""
        if not _collecting:
            self._loaded()
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name")
        previous = self._entries.get(name)
        if previous is not None and previous.plugin != plugin:
            log.warning("%s %r of %s replaced by plug-in %s", self.kind, name, previous.plugin, plugin)
        self._entries[name] = Registered(name, value, plugin or "code")

    def collect(self, manager: pluggy.PluginManager, plugins: Iterable[object] | None = None) -> None:
        """Call this kind's hook of every plug-in (or of ``plugins``) with ``register``."""
        global _collecting
        wanted = None if plugins is None else list(plugins)
        _collecting = True
        try:
            for impl in getattr(manager.hook, self.hook).get_hookimpls():
                if wanted is not None and not any(impl.plugin is p for p in wanted):
                    continue
                try:
                    impl.function(register=self._adder(self, impl.plugin_name))
                except Exception:
                    if impl.plugin_name in BUILTIN_PLUGINS:
                        raise
                    log.exception(
                        "plug-in %s failed to register its %ss; skipped", impl.plugin_name, self.kind
                    )
        finally:
            _collecting = False

    def _loaded(self) -> dict[str, Registered[T]]:
        if _loading:  # a plug-in module asked while plug-ins are being imported: not yet
            return self._entries
        if not self._collected:
            manager = load()
            with _lock:
                if not self._collected:
                    self._collected = True
                    self.collect(manager)
        return self._entries

    def names(self) -> list[str]:
        return list(self._loaded())

    def entries(self) -> list[Registered[T]]:
        return list(self._loaded().values())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def find(self, name: str) -> T | None:
        entry = self._loaded().get(name)
        return None if entry is None else entry.value

    def get(self, name: str, field: str = "") -> T:
        """The plug-in registered as ``name``, or UnknownPlugin naming ``field`` and the choices."""
        entry = self._loaded().get(name)
        if entry is None:
            raise UnknownPlugin(self.unknown_message(name, field))
        return entry.value

    def unknown_message(self, name: str, field: str = "") -> str:
        where = f"{field}={name}: " if field else f"{name!r}: "
        return f"{where}no {self.kind} of that name is registered; choose one of {', '.join(self.names())}"


def normalize_extension(ext: str) -> str:
    """``PDF`` or ``.pdf`` -> ``.pdf``."""
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else f".{ext}"


def _loader_adder(registry: Registry, plugin: str) -> Callable[[Iterable[str] | str, Any], None]:
    def register(extensions: Iterable[str] | str, loader: Any) -> None:
        for ext in [extensions] if isinstance(extensions, str) else extensions:
            registry.add(normalize_extension(ext), loader, plugin)

    return register


backends: Registry = Registry("backend", "register_backends")
scaling_algorithms: Registry = Registry("scaling algorithm", "register_scaling_algorithms")
outcome_rewards: Registry = Registry("outcome reward", "register_outcome_rewards")
process_rewards: Registry = Registry("process reward", "register_process_rewards")
answer_projections: Registry = Registry("answer projection", "register_answer_projections")
vector_stores: Registry = Registry("vector store", "register_vector_stores")
loaders: Registry = Registry("document loader", "register_loaders", _loader_adder)  # by extension (".pdf")
speech_to_text: Registry = Registry("speech-to-text", "register_speech_to_text")
text_to_speech: Registry = Registry("text-to-speech", "register_text_to_speech")

REGISTRIES = (
    backends,
    scaling_algorithms,
    outcome_rewards,
    process_rewards,
    answer_projections,
    vector_stores,
    loaders,
    speech_to_text,
    text_to_speech,
)


def add_loader(extensions: Iterable[str] | str, loader: Any) -> None:
    """Make ``loader`` handle files with these extensions, from code (a later registration wins)."""
    _loader_adder(loaders, "code")(extensions, loader)


_manager: pluggy.PluginManager | None = None
_lock = threading.RLock()
_loading = False
_collecting = False


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(sys.modules[__name__])
    return manager


def _third_party() -> list[tuple[str, object]]:
    """The modules named by installed ``h2ogpt`` entry points; a broken one is logged and skipped."""
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.append((entry.name, entry.load()))
        except Exception:
            log.exception("plug-in %s (%s) failed to load; it is skipped", entry.name, entry.value)
    return found


def load() -> pluggy.PluginManager:
    """Register the built-in plug-ins, then the installed ones (once per process); their hooks
    run when a registry is first used."""
    global _manager, _loading
    if _manager is not None:
        return _manager
    with _lock:
        if _manager is not None:
            return _manager
        _loading = True
        try:
            manager = _new_manager()
            plugins = [(name, importlib.import_module(name)) for name in BUILTIN_PLUGINS]
            for name, plugin in [*plugins, *_third_party()]:
                _register(manager, plugin, name)
            _manager = manager
        finally:
            _loading = False
    return _manager


def _register(manager: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        manager.register(plugin, name)
    except Exception:
        if name in BUILTIN_PLUGINS:
            raise
        log.exception("plug-in %s failed to register; it is skipped", name)


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plug-in object or module from code (what an entry point does when installed)."""
    manager = load()
    with _lock:
        _register(manager, plugin, name or getattr(plugin, "__name__", repr(plugin)))
        for registry in REGISTRIES:
            if registry._collected:  # kinds not used yet pick it up when they are
                registry.collect(manager, [plugin])


def plugin_names() -> list[str]:
    """Every registered plug-in, built-ins first."""
    return [name for name, _ in load().list_name_plugin()]


@dataclass(frozen=True)
class PluginName:
    """A ``str`` field (flag or request field) that must name a registered plug-in.

    ``Annotated[str, PluginName("scaling_algorithms", also=("none",))]``: validated against
    the registry when a value is given (None passes, for optional request fields), and the
    JSON schema (the API's /openapi.json) lists the names registered at that moment.
    """

    registry: str  # the attribute of this module holding the Registry
    also: tuple[str, ...] = ()  # accepted besides the registered names (e.g. "none", "auto")
    exclude_if: str = ""  # leave out entries whose value has this attribute true (e.g. "remote")

    def choices(self) -> list[str]:
        entries = getattr(sys.modules[__name__], self.registry).entries()
        names = [
            e.name for e in entries if not (self.exclude_if and getattr(e.value, self.exclude_if, False))
        ]
        return [*self.also, *names]

    def check(self, value: str | None) -> str | None:
        if value is not None and value not in self.choices():
            registry = getattr(sys.modules[__name__], self.registry)
            raise ValueError(
                f"no {registry.kind} {value!r} is registered; choose one of {', '.join(self.choices())}"
            )
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        json_schema = handler(schema)
        target = json_schema
        for branch in json_schema.get("anyOf", ()):
            if branch.get("type") == "string":
                target = branch
        target["enum"] = self.choices()
        return json_schema
