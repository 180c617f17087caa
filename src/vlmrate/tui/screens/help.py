"""Help: `?` or F1 lists every key of the screen it was opened on.

The list is generated from that screen's active bindings (its own, the focused widget's
and the app's), so a key added to any screen shows up here without being written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

#: Keys whose action is the help itself (not listed among the screen's keys).
HELP_ACTIONS = ("help", "app.help")


@dataclass(frozen=True)
class KeyHelp:
    """One key as the help lists it."""

    key: str  # as the footer shows it ("enter", "R", "^q")
    description: str
    enabled: bool  # False: the key does nothing right now (e.g. pause on a finished run)


@dataclass(frozen=True)
class KeySection:
    title: str
    keys: list[KeyHelp]
    compact: bool = False  # the focused widget's movement keys: a wrapped line


def screen_summary(screen: Screen) -> str:
    """The first line of the screen class's docstring: what the screen is for."""
    doc = (type(screen).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""  # the first paragraph


def screen_name(screen: Screen) -> str:
    return type(screen).__name__.removesuffix("Screen") or type(screen).__name__


def key_sections(screen: Screen) -> list[KeySection]:
    """Every described key active on ``screen``: this screen's, the focused widget's and
    the ones that work everywhere (the app's and every screen's)."""
    app = screen.app
    own: list[KeyHelp] = []
    focused: list[KeyHelp] = []
    everywhere: list[KeyHelp] = []
    focused_name = ""
    seen: set[tuple[int, str]] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system or not binding.description or binding.action in HELP_ACTIONS:
            continue
        node: DOMNode = active.node
        ident = (id(node), binding.action)
        if ident in seen:  # one action bound to several keys: the first one is listed
            continue
        seen.add(ident)
        entry = KeyHelp(app.get_key_display(binding), binding.description, active.enabled)
        if node is app or _is_base_screen_binding(binding):
            everywhere.append(entry)
        elif node is screen:
            own.append(entry)
        else:
            focused_name = focused_name or _widget_name(node)
            focused.append(entry)
    help_keys = [KeyHelp(" ".join(app.get_key_display(Binding(k, b.action))
                                  for k in b.key.split(",")), b.description, True)
                 for b in _app_help_bindings(screen)]
    sections = [KeySection(f"{screen_name(screen)} screen", own)]
    if focused:
        sections.append(KeySection(f"in the {focused_name}", focused, compact=True))
    sections.append(KeySection("everywhere", help_keys + everywhere))
    return [s for s in sections if s.keys]


def _is_base_screen_binding(binding: Binding) -> bool:
    return binding.action.startswith("app.focus_") or binding.action == "screen.copy_text"


def _widget_name(node: DOMNode) -> str:
    names = {"DataTable": "table", "FrameTable": "table", "Input": "text field",
             "RichLog": "log", "Select": "choice list", "TabbedContent": "tabs",
             "Tabs": "tabs"}
    for cls in type(node).__mro__:  # RunsTable is a table, not "the RunsTable"
        if cls.__name__ in names:
            return names[cls.__name__]
    return "focused widget"


def _app_help_bindings(screen: Screen) -> list[Binding]:
    """The help keys (`?`, F1), listed once with both keys."""
    found = [a.binding for a in screen.active_bindings.values()
             if a.binding.action in HELP_ACTIONS and a.binding.description]
    if not found:
        return []
    keys = ",".join(dict.fromkeys(b.key for b in found))
    return [Binding(keys, "help", found[0].description)]


def palette_line(screen: Screen) -> str:
    key = screen.app.COMMAND_PALETTE_BINDING.replace("ctrl+", "^")
    return (f"{key} opens the command palette: type a few letters of any key's description "
            "above (or \"open run\", \"theme\") and press enter.")


def render_help(screen: Screen) -> Text:
    """The help text of ``screen`` (what HelpScreen shows)."""
    text = Text()
    summary = screen_summary(screen)
    text.append(f"{screen_name(screen)}", style="bold")
    if summary:
        text.append(f" — {summary}")
    text.append("\n")
    extra = getattr(screen, "HELP_EXTRA", None)  # (title, text): e.g. the filter language
    for n, section in enumerate(key_sections(screen)):
        if n == 1 and extra:  # right after the screen's own keys, before the general ones
            _extra(text, extra)
            extra = None
        text.append(f"\n{section.title}\n", style="bold underline")
        if section.compact:
            for n, entry in enumerate(section.keys):
                text.append(" · " if n else "  ", style="dim")
                text.append(entry.key, style="bold")
                if entry.description.lower() != entry.key.lower():  # not "home home"
                    text.append(f" {entry.description.lower()}")
            text.append("\n")
            continue
        width = max(len(k.key) for k in section.keys)
        for entry in section.keys:
            text.append(f"  {entry.key:>{width}}  ", style="bold" if entry.enabled else "dim")
            text.append(entry.description, style="" if entry.enabled else "dim")
            if not entry.enabled:
                text.append("  (not now)", style="dim italic")
            text.append("\n")
    if extra:
        _extra(text, extra)
    text.append(f"\n{palette_line(screen)}\n", style="italic")
    return text


def _extra(text: Text, extra: tuple[str, str]) -> None:
    text.append(f"\n{extra[0]}\n", style="bold underline")
    text.append("".join(f"  {line}\n" for line in extra[1].splitlines()))


class HelpScreen(ModalScreen[None]):
    """Every key of the screen it was opened on; escape, q, ? or F1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]

    def __init__(self, origin: Screen) -> None:
        super().__init__()
        self.origin = origin
        self.help_text = render_help(origin)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("Keys", style="bold"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(self.help_text, id="help-body")
            yield Static("escape, q, ? or F1 closes this help", id="help-foot", classes="info")

    def action_close(self) -> None:
        self.dismiss(None)
