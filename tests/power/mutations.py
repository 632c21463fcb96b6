"""Single mutations of a Python module, found and applied with the standard library's ``ast``.

A :class:`Mutation` is one edit of one file: the bytes between two source positions replaced
by a short text. Every mutation is checked before it is offered: the edited module parses, and
its tree equals the original tree with exactly one node replaced (positions ignored), so an
operator can never produce a syntax error or an accidental second change.

Operators (``OPERATORS``), each the kind of slip a server author makes:

- ``compare``:  ``<`` ↔ ``<=``, ``>`` ↔ ``>=``, ``==`` ↔ ``!=``, ``is`` ↔ ``is not``,
  ``in`` ↔ ``not in``
- ``boolean``:  ``and`` ↔ ``or``; ``not x`` → ``x``
- ``arith``:    ``+`` ↔ ``-``, ``*`` → ``//``, ``//`` → ``*``, ``%`` → ``//``, ``|`` ↔ ``&``,
  ``<<`` ↔ ``>>`` (also in ``+=`` and friends); ``-x`` → ``x``
- ``negate``:   the condition of ``if``/``elif``/``while``/``x if c else y``/a comprehension's
  ``if`` becomes ``not (c)``
- ``constant``: an integer ``n`` → ``n + 1`` and ``n - 1``; ``True`` ↔ ``False``
- ``return``:   ``return x`` → ``return None``
- ``delete``:   a statement inside a function (a call, an assignment, ``raise``, ``break``,
  ``continue``, a bare ``return``) → ``pass``

What is never mutated, and why (``_skipped_fields`` / ``_skipped_statement``):

- docstrings and every other bare string statement: documentation, no behaviour;
- logging calls (``logger.debug(...)`` …): the spec says nothing of logs the wire can see;
- type annotations, ``if TYPE_CHECKING:`` blocks, decorators, ``__all__``: typing and
  plumbing; a change either fails at import (a stillborn mutant, counted apart) or does nothing;
- f-strings: messages for humans (error texts are free text in the spec);
- ``assert`` statements: invariants of a correct program; deleting one changes nothing there;
- ``__repr__``/``__str__`` bodies: only logs and debuggers see them;
- float constants: in protocol/ and server/ they are time scales and backoff factors, where
  the spec leaves wide tolerances, so a changed float is almost always equivalent;
- statements at module or class level for ``delete`` (a missing import or field only makes
  the server fail to start), and imports anywhere.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "OPERATORS",
    "ModuleMutations",
    "Mutation",
    "apply",
    "find_mutations",
    "requirement_ids",
    "verified",
]

OPERATORS = ("compare", "boolean", "arith", "negate", "constant", "return", "delete")

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_ARITH_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%",
    ast.BitOr: "|", ast.BitAnd: "&", ast.LShift: "<<", ast.RShift: ">>",
    ast.And: "and", ast.Or: "or",
}  # fmt: skip
_LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)
_QUIET_FUNCTIONS = frozenset({"__repr__", "__str__"})
_DELETABLE = (
    ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Break, ast.Continue,
    ast.Return, ast.Delete,
)  # fmt: skip
_REQUIREMENT_ID = re.compile(r"\b([A-Z]+-\d+)\b")


@dataclass(frozen=True)
class Mutation:
    """One edit of one file: bytes ``start``..``end`` of its UTF-8 source become ``text``."""

    path: str
    """The file, relative to the folder the package was found in (``canaux/protocol/x.py``)."""
    line: int
    operator: str
    start: int
    end: int
    text: str
    scope: str
    """The qualified name of the enclosing function or class (``<module>`` at top level)."""
    statement_line: int = 0
    """The first line of the innermost statement holding the site (what coverage reports)."""
    in_function: bool = False
    """Whether the site is inside a function body (else module or class level)."""
    cites: tuple[str, ...] = field(default=())
    """Up to 3 requirement IDs quoted nearest the site, in the innermost scope quoting any."""

    def diff(self, source: str) -> tuple[str, str]:
        """The mutated line before and after the edit, stripped (a one-line diff)."""
        before = source.encode()
        after = before[: self.start] + self.text.encode() + before[self.end :]
        line_start = before.rfind(b"\n", 0, self.start) + 1
        old_end = before.find(b"\n", self.start)
        new_end = after.find(b"\n", self.start)
        old = before[line_start : len(before) if old_end < 0 else old_end]
        new = after[line_start : len(after) if new_end < 0 else new_end]
        return old.decode().strip(), new.decode().strip()


def apply(source: str, mutation: Mutation) -> str:
    """``source`` with ``mutation`` applied."""
    data = source.encode()
    return (data[: mutation.start] + mutation.text.encode() + data[mutation.end :]).decode()


def requirement_ids(text: str, known: Sequence[str] | None = None) -> tuple[str, ...]:
    """The requirement IDs quoted in ``text``, in order of first appearance, deduplicated."""
    found = dict.fromkeys(_REQUIREMENT_ID.findall(text))
    return tuple(i for i in found if known is None or i in known)


@dataclass(frozen=True)
class _Candidate:
    operator: str
    node: ast.AST
    """The node replaced (an expression, a statement or an operator-bearing node)."""
    location: ast.AST
    """The node whose source span is replaced (usually ``node``)."""
    replacement: ast.AST
    text: str


class _Finder:
    def __init__(self, source: str, path: str, known: Sequence[str] | None) -> None:
        self.source = source
        self.data = source.encode()
        self.path = path
        self.known = known
        self.tree = ast.parse(source)
        self._line_offsets = [0]
        for line in self.data.splitlines(keepends=True):
            self._line_offsets.append(self._line_offsets[-1] + len(line))
        self.found: list[tuple[_Candidate, str, tuple[ast.AST, ...], int, bool]] = []
        self._slots: dict[int, tuple[ast.AST, str, int | None]] = {}
        """id(node) -> (parent, field, index in the field's list or None): where it hangs."""
        self._ids_by_line: list[tuple[int, str]] = [
            (number, rid)
            for number, text in enumerate(source.splitlines(), start=1)
            for rid in requirement_ids(text, known)
        ]

    # -- positions --------------------------------------------------------------------------
    def offset(self, line: int, col: int) -> int:
        return self._line_offsets[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode()

    def wrapped(self, node: ast.AST) -> str:
        return f"({self.segment(node)})"

    # -- traversal --------------------------------------------------------------------------
    def run(self) -> None:
        self._visit(self.tree, ("<module>",), (self.tree,), 1, in_function=False)

    def _visit(
        self,
        node: ast.AST,
        scope: tuple[str, ...],
        scopes: tuple[ast.AST, ...],
        statement: int,
        *,
        in_function: bool,
    ) -> None:
        if isinstance(node, ast.stmt):
            statement = node.lineno
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name in _QUIET_FUNCTIONS:
                return
            scope = (*scope[1:], node.name) if scope == ("<module>",) else (*scope, node.name)
            scopes = (*scopes, node)
            in_function = not isinstance(node, ast.ClassDef)
        for candidate in self._candidates(node, in_function=in_function):
            self.found.append((candidate, ".".join(scope), scopes, statement, in_function))
        for name, value in ast.iter_fields(node):
            if name in _skipped_fields(node):
                continue
            children = value if isinstance(value, list) else [value]
            for index, child in enumerate(children):
                if not isinstance(child, ast.AST):
                    continue
                slot = index if isinstance(value, list) else None
                self._slots[id(child)] = (node, name, slot)
                if not _skipped_node(node, child):
                    self._visit(child, scope, scopes, statement, in_function=in_function)

    def cites(self, line: int, scopes: tuple[ast.AST, ...]) -> tuple[str, ...]:
        """The (at most 3) requirement IDs quoted nearest ``line`` in the innermost scope
        (function, then class, then module) that quotes any."""
        for scope in reversed(scopes):
            first = getattr(scope, "lineno", 1)
            last = getattr(scope, "end_lineno", None) or len(self._line_offsets)
            near = sorted(
                (abs(number - line), number, rid)
                for number, rid in self._ids_by_line
                if first <= number <= last
            )
            if near:
                return tuple(dict.fromkeys(rid for _, _, rid in near))[:3]
        return ()

    # -- operators --------------------------------------------------------------------------
    def _candidates(self, node: ast.AST, *, in_function: bool) -> Iterator[_Candidate]:
        yield from self._compare(node)
        yield from self._boolean(node)
        yield from self._arith(node)
        yield from self._negate(node)
        yield from self._constant(node)
        yield from self._return(node)
        if in_function:
            yield from self._delete(node)

    def _compare(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Compare):
            return
        for index, op in enumerate(node.ops):
            swap = _COMPARE_SWAPS.get(type(op))
            if swap is None:
                continue
            ops = list(node.ops)
            ops[index] = swap()
            parts = [self.wrapped(node.left)]
            for new_op, right in zip(ops, node.comparators, strict=True):
                parts += [_SYMBOLS[type(new_op)], self.wrapped(right)]
            replacement = ast.Compare(node.left, ops, node.comparators)
            yield _Candidate("compare", node, node, replacement, " ".join(parts))

    def _boolean(self, node: ast.AST) -> Iterator[_Candidate]:
        if isinstance(node, ast.BoolOp):
            op: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            text = f" {_SYMBOLS[type(op)]} ".join(self.wrapped(v) for v in node.values)
            yield _Candidate("boolean", node, node, ast.BoolOp(op, node.values), text)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield _Candidate("boolean", node, node, node.operand, self.wrapped(node.operand))

    def _arith(self, node: ast.AST) -> Iterator[_Candidate]:
        if isinstance(node, ast.BinOp):
            swap = _ARITH_SWAPS.get(type(node.op))
            if swap is None or _is_text(node.left) or _is_text(node.right):
                return
            if isinstance(node.op, ast.BitOr) and (_is_type(node.left) or _is_type(node.right)):
                return  # a union of types (``A | B | None``), typing by another name
            text = f"{self.wrapped(node.left)} {_SYMBOLS[swap]} {self.wrapped(node.right)}"
            yield _Candidate("arith", node, node, ast.BinOp(node.left, swap(), node.right), text)
        elif isinstance(node, ast.AugAssign):
            swap = _ARITH_SWAPS.get(type(node.op))
            if swap is None or _is_text(node.value):
                return
            text = f"{self.segment(node.target)} {_SYMBOLS[swap]}= {self.wrapped(node.value)}"
            replacement = ast.AugAssign(node.target, swap(), node.value)
            yield _Candidate("arith", node, node, replacement, text)
        elif (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and not isinstance(node.operand, ast.Constant)
        ):
            yield _Candidate("arith", node, node, node.operand, self.wrapped(node.operand))

    def _negate(self, node: ast.AST) -> Iterator[_Candidate]:
        tests: list[ast.expr] = []
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            tests.append(node.test)
        elif isinstance(node, ast.comprehension):
            tests.extend(node.ifs)
        for test in tests:
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                continue  # "boolean" already removes the not; not (not c) is c
            replacement = ast.UnaryOp(ast.Not(), test)
            yield _Candidate("negate", test, test, replacement, f"not {self.wrapped(test)}")

    def _constant(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Constant):
            return
        value = node.value
        if isinstance(value, bool):
            yield _Candidate("constant", node, node, ast.Constant(not value), str(not value))
        elif isinstance(value, int):
            for new in (value + 1, value - 1):
                if new >= 0:
                    yield _Candidate("constant", node, node, ast.Constant(new), str(new))
                else:  # -1 parses as a unary minus applied to 1
                    replacement = ast.UnaryOp(ast.USub(), ast.Constant(-new))
                    yield _Candidate("constant", node, node, replacement, f"({new})")

    def _return(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, ast.Return) or node.value is None:
            return
        if isinstance(node.value, ast.Constant) and node.value.value is None:
            return
        yield _Candidate("return", node.value, node.value, ast.Constant(None), "None")

    def _delete(self, node: ast.AST) -> Iterator[_Candidate]:
        if not isinstance(node, _DELETABLE) or _skipped_statement(node):
            return
        if isinstance(node, ast.Return) and node.value is not None:
            return  # "return" covers it
        if isinstance(node, ast.AnnAssign) and node.value is None:
            return
        if isinstance(node, ast.Assign | ast.AnnAssign) and _binds_names_only(node):
            return  # the name is then unbound: a NameError, not a behaviour
        yield _Candidate("delete", node, node, ast.Pass(), "pass")

    # -- checking ---------------------------------------------------------------------------
    def mutations(self) -> list[tuple[Mutation, _Candidate]]:
        seen: set[tuple[int, int, str]] = set()
        result: list[tuple[Mutation, _Candidate]] = []
        for candidate, scope, scopes, statement, in_function in self.found:
            start, end = self.span(candidate.location)
            key = (start, end, candidate.text)
            if key in seen or self.data[start:end].decode() == candidate.text:
                continue
            seen.add(key)
            line: int = candidate.location.lineno  # type: ignore[attr-defined]
            mutation = Mutation(
                path=self.path,
                line=line,
                operator=candidate.operator,
                start=start,
                end=end,
                text=candidate.text,
                scope=scope,
                statement_line=statement,
                in_function=in_function,
                cites=self.cites(line, scopes),
            )
            result.append((mutation, candidate))
        return result

    def check(self, mutation: Mutation, candidate: _Candidate) -> bool:
        """Whether the edited source parses to this tree with only ``candidate.node`` replaced."""
        try:
            edited = ast.dump(ast.parse(apply(self.source, mutation)))
        except SyntaxError:
            return False
        # Swap the replacement into the tree, dump it, swap back: far cheaper than a deep copy.
        parent, name, index = self._slots[id(candidate.node)]
        if index is None:
            setattr(parent, name, candidate.replacement)
            try:
                expected = ast.dump(self.tree)
            finally:
                setattr(parent, name, candidate.node)
        else:
            children = getattr(parent, name)
            children[index] = candidate.replacement
            try:
                expected = ast.dump(self.tree)
            finally:
                children[index] = candidate.node
        return edited == expected


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _is_type(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    # CapWords names a class; ALL_CAPS names a constant (flags are fair game)
    return isinstance(name, str) and name[:1].isupper() and not name.isupper()


def _binds_names_only(node: ast.Assign | ast.AnnAssign) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    allowed = ast.Name | ast.Tuple | ast.List | ast.Starred | ast.expr_context
    return all(isinstance(n, allowed) for t in targets for n in ast.walk(t))


def _skipped_fields(node: ast.AST) -> frozenset[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return frozenset({"returns", "decorator_list", "type_params", "args"})
    if isinstance(node, ast.ClassDef):
        return frozenset({"decorator_list", "bases", "keywords", "type_params"})
    if isinstance(node, ast.AnnAssign):
        return frozenset({"annotation", "target"})
    if isinstance(node, ast.arg):
        return frozenset({"annotation"})
    return frozenset()


def _skipped_node(parent: ast.AST, child: ast.AST) -> bool:
    if isinstance(child, ast.stmt) and _skipped_statement(child):
        return True
    if isinstance(child, ast.JoinedStr | ast.Assert | ast.Import | ast.ImportFrom):
        return True
    if isinstance(child, ast.expr) and isinstance(parent, ast.Call) and _is_cast(parent):
        return child is parent.args[0] if parent.args else False
    return False


def _skipped_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # docstrings, attribute docstrings, ``...``
    if isinstance(node, ast.Expr) and _is_log_call(node.value):
        return True
    if isinstance(node, ast.If) and _names(node.test) == {"TYPE_CHECKING"}:
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return isinstance(node, ast.Import | ast.ImportFrom | ast.Assert)


def _is_log_call(node: ast.AST) -> bool:
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr not in _LOG_METHODS:
        return False
    return any("log" in name.lower() for name in _names(node.func.value))


def _is_cast(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Name) and call.func.id == "cast"


def _names(node: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    return names


class ModuleMutations:
    """Every mutation of one module, each checkable without walking the module again."""

    def __init__(self, source: str, path: str, *, known: Sequence[str] | None = None) -> None:
        self._finder = _Finder(source, path, known)
        self._finder.run()
        self._pairs = self._finder.mutations()
        self.mutations = [m for m, _ in self._pairs]

    def verified(self, index: int) -> bool:
        """:func:`verified` for ``self.mutations[index]``."""
        return self._finder.check(*self._pairs[index])


def find_mutations(
    source: str,
    path: str,
    *,
    known: Sequence[str] | None = None,
    check: bool = False,
) -> list[Mutation]:
    """Every mutation of ``source`` in a stable order (the order of the tree).

    ``known`` restricts :attr:`Mutation.cites` to these requirement IDs. With ``check``, only
    the mutations :func:`verified` accepts; without, call :func:`verified` on the few that are
    sampled, since checking them all means parsing the file once per mutation.
    """
    finder = _Finder(source, path, known)
    finder.run()
    return [m for m, candidate in finder.mutations() if not check or finder.check(m, candidate)]


def verified(source: str, mutation: Mutation) -> bool:
    """True when the mutated source parses to the original tree with exactly one node replaced."""
    finder = _Finder(source, mutation.path, None)
    finder.run()
    for found, candidate in finder.mutations():
        if (found.start, found.end, found.text) == (mutation.start, mutation.end, mutation.text):
            return finder.check(mutation, candidate)
    return False
