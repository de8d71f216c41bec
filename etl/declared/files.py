"""Reading the user's YAML and JSON files: every failure becomes one UsageError line naming the
file, the place and the fix. Used for configs, models, templates, pins and mapping files alike.

Hostile files are refused before they cost anything: YAML aliases that expand beyond a bound (a
1 KB "billion laughs" would otherwise be walked, validated and echoed a billion times), nesting
deeper than any real file (a RecursionError in json, jsonschema or deepcopy), duplicate keys (the
last one silently won), and regexes that can backtrack exponentially.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from re import _constants as _re_constants  # the parser re.compile uses: its tree is what a regex does
from re import _parser as _re_parser
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import UsageError

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster

#: nodes that aliases may add to a YAML document beyond those written in it
MAX_ALIAS_NODES = 10_000
#: nesting depth of a config, template, mapping or values file; real ones stay below 10
MAX_DEPTH = 64
#: characters of a user's value echoed in an error message
MAX_ECHO = 200
#: digits of an integer in a user's file: Python's own limit, past which int() raises ValueError
#: (a value that large is then refused by its field's maximum, with its place)
MAX_INT_DIGITS = 4300


def echo(value: Any, limit: int = MAX_ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error line never repeats a huge value."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} chars)"


class YamlRefused(ConstructorError):
    """A YAML document that parses but is refused (bomb, depth, duplicate key); one line says why."""


def _refuse(node: Node, problem: str) -> YamlRefused:
    return YamlRefused(None, None, problem, node.start_mark)


def _check_nodes(root: Node) -> None:
    """Refuse cycles, nesting beyond MAX_DEPTH and alias expansion beyond MAX_ALIAS_NODES, without
    expanding anything: each node's expanded size is computed once (iteratively: no recursion)."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}  # levels below a node once aliases are expanded
    on_path: set[int] = set()
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            height[key] = 1 + max((height[id(c)] for c in _children(node)), default=0)
            if height[key] > MAX_DEPTH:  # aliases nested in aliases: deep without being written deep
                raise _refuse(node, f"nested more than {MAX_DEPTH} levels deep; flatten the file")
            continue
        if key in size:
            continue
        if key in on_path:
            raise _refuse(node, "an alias refers to the node that contains it (a cycle); remove the alias")
        if depth > MAX_DEPTH:
            raise _refuse(node, f"nested more than {MAX_DEPTH} levels deep; flatten the file")
        on_path.add(key)
        stack.append((node, depth, True))
        stack += [(child, depth + 1, False) for child in _children(node)]
    if size[id(root)] - len(size) > MAX_ALIAS_NODES:
        raise _refuse(
            root,
            f"aliases expand the document to {size[id(root)]:,} nodes (more than {MAX_ALIAS_NODES:,} "
            "beyond those written); write the values out or use fewer aliases",
        )


def _check_depth(root: Node) -> None:
    """The depth check alone, for a document without anchors (so without aliases): every node is
    written once, and one walk with a depth per node suffices (a 10,000-model config: 4x faster)."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _refuse(node, f"nested more than {MAX_DEPTH} levels deep; flatten the file")
        if isinstance(node, SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, MappingNode):
            stack += [(child, depth + 1) for pair in node.value for child in pair]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _unique_keys(node: MappingNode) -> None:
    """A key written twice in one mapping is an error (YAML parsers silently keep the last)."""
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if type(key_node) is not ScalarNode or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:  # on another line, or twice in one flow mapping ({a: 1, a: 2})
            raise _refuse(key_node, f"duplicate key {echo(key_node.value)} (first on line {seen[key] + 1}); keep one")
        seen[key] = key_node.start_mark.line


def checked_loader(base: type, anchors: bool = True) -> type:
    """``base`` (a PyYAML loader) with the checks above: bombs, cycles, depth, duplicate keys.
    ``anchors=False``: for a text without ``&`` (no anchor, so no alias), the depth check only."""
    check = _check_nodes if anchors else _check_depth

    class Loader(base):  # type: ignore[misc, valid-type]
        def get_single_data(self) -> Any:
            node = self.get_single_node()
            if node is None:
                return None
            check(node)
            return self.construct_document(node)

        def construct_mapping(self, node: Node, deep: bool = False) -> Any:
            if isinstance(node, MappingNode):
                _unique_keys(node)
            return super().construct_mapping(node, deep=deep)

    return Loader


def _construct_int(loader: Any, node: Node) -> Any:
    """An integer with more than MAX_INT_DIGITS digits is refused at its line (not a ValueError)."""
    digits = len(str(node.value).replace("_", "").replace(":", "").lstrip("+-"))  # 0x.., 0o.., 1:30 alike
    if digits > MAX_INT_DIGITS:
        raise _refuse(node, f"an integer of {digits:,} digits (more than {MAX_INT_DIGITS}); write the real value")
    return SafeConstructor.construct_yaml_int(loader, node)


_FAST, _PURE = checked_loader(_YAML_LOADER), checked_loader(yaml.SafeLoader)
_FAST_PLAIN = checked_loader(_YAML_LOADER, anchors=False)
_CHECKED = (_FAST, _PURE, _FAST_PLAIN)
for _loader in _CHECKED:  # the user's files (a body's loader says it its own way, as a source failure)
    _loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str) -> Any:
    """YAML with libyaml's speed and the pure loader's (portable) error messages; bombs, cycles,
    deep nesting and duplicate keys raise :class:`YamlRefused`."""
    try:
        try:
            return yaml.load(text, Loader=_FAST if "&" in text else _FAST_PLAIN)
        except YamlRefused:
            raise
        except yaml.YAMLError:
            pass
        return yaml.load(text, Loader=_PURE)  # raises again, with the pure loader's message: the same everywhere
    except RecursionError:
        raise YamlRefused(None, None, f"nested more than {MAX_DEPTH} levels deep; flatten the file", None) from None


def yaml_problem(path: Path | str, exc: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: file, line and column, what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, YamlRefused):
        return f"{path}: {f'line {mark.line + 1}' if mark else '(top level)'}: {exc.problem}"
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown place)"
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{path}: {where}: invalid YAML ({what}); fix the syntax"


def read_text(path: Path) -> str:
    """A file's text; a missing or non-UTF-8 file is a UsageError."""
    if not path.is_file():
        raise UsageError(f"{path}: file not found; check the path")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: byte {exc.start}: not UTF-8 text; save the file as UTF-8") from None


def read_structured(path: Path) -> Any:
    """Read a YAML or JSON file (by its suffix), turning every failure into a one-line UsageError."""
    text = read_text(path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_pairs)
            if nesting_depth(data, MAX_DEPTH) > MAX_DEPTH:
                raise RecursionError  # reported as json's own, below
            return data
        return load_yaml(text) or {}
    except _DuplicateKey as exc:
        raise UsageError(f"{path}: {_line_of_second(text, exc.key)}: duplicate key {echo(exc.key)}; keep one") from None
    except RecursionError:  # json's C scanner recurses once per level: ~100k levels end here
        raise UsageError(f"{path}: (top level): nested more than {MAX_DEPTH} levels deep; flatten the file") from None
    except json.JSONDecodeError as exc:
        if exc.doc in ("NaN", "Infinity", "-Infinity"):  # from _reject_constant: find where it is
            exc = json.JSONDecodeError(exc.msg, text, max(text.find(exc.doc), 0))
        raise UsageError(
            f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg}); fix the syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise UsageError(yaml_problem(path, exc)) from None


def nesting_depth(data: Any, bound: int) -> int:
    """How deep ``data`` nests (lists and dicts), iteratively; stops counting past ``bound``."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > bound:
                return depth
            stack += [(child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)]
    return deepest


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key written twice (json keeps the last one silently)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return data


def _line_of_second(text: str, key: str) -> str:
    """Where a duplicate key is written again (its second occurrence), as 'line N'."""
    quoted = json.dumps(key)
    first = text.find(quoted)
    second = text.find(quoted, first + 1) if first >= 0 else -1
    return f"line {text.count(chr(10), 0, second) + 1}" if second >= 0 else "(top level)"


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON (use null for unknown)", name, 0)


_REPEATS = (_re_constants.MAX_REPEAT, _re_constants.MIN_REPEAT)


def regex_hazard(pattern: str) -> str | None:
    """Why a regex may backtrack exponentially (a repeat nested in a repeat, as ``(a+)+`` or
    ``(.*)*``), or None. Possessive repeats and atomic groups never backtrack, so they pass."""
    try:
        tree = _re_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None  # compiling reports it
    if not _nested_repeat(tree, outer=False):
        return None
    return (
        f"regex {echo(pattern)} nests a repeat inside a repeat: it can take exponential time "
        "on a long name; drop the inner repeat (e.g. '(a+)+' -> 'a+') or make it possessive ('a++')"
    )


def _nested_repeat(tree: Any, outer: bool) -> bool:
    for op, av in tree:
        subs: list[Any] = []
        inner = outer
        if op in _REPEATS:
            low, high, sub = av
            if high > 1:
                if outer:
                    return True
                inner = True
            subs = [sub]
        elif op == _re_constants.SUBPATTERN:
            subs = [av[-1]]
        elif op == _re_constants.BRANCH:
            subs = list(av[1])
        elif op in (_re_constants.ASSERT, _re_constants.ASSERT_NOT):
            subs = [av[1]]
        elif op == _re_constants.GROUPREF_EXISTS:
            subs = [s for s in av[1:] if s is not None]
        for sub in subs:
            if _nested_repeat(sub, inner):
                return True
    return False
