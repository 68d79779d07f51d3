"""Where a workflow diagram puts its states and arrows: a pure layout for an inline SVG.

States are placed in columns by breadth-first distance from the initial state (transitions and
approval outcomes are the edges), in the order the document lists them inside a column; states
no edge reaches get a column of their own at the end. Arrows are cubic Bézier paths: forward
arrows run right, arrows inside one column bow out to the right, back-edges (a send-back, a
reopen) run under the boxes, and a transition from a state to itself loops over its box.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

BOX_H = 46
MIN_W, MAX_W = 112, 210
GAP_X, GAP_Y, MAX_GAP = 96, 34, 200
MARGIN_X, MARGIN_TOP = 56, 52
LOOP_H = 34
UNDER_STEP = 22
FONT = 13  # px, the diagram's label size


def text_width(text: str, size: int = FONT) -> float:
    """A rough rendered width: CJK characters are about square, Latin ones about half."""
    return sum(size * (1.0 if ord(ch) >= 0x2E80 else 0.58) for ch in text)


@dataclass(frozen=True)
class Box:
    """One state: its rounded box and label."""

    name: str
    label: str
    x: float
    y: float
    w: float
    h: float
    column: int
    initial: bool = False
    reachable: bool = True
    approval: bool = False

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True)
class Arrow:
    """One arrow: a transition from one of its `from` states, or an approval outcome."""

    name: str  # the transition's name (or approve/reject for an approval outcome)
    label: str
    source: str
    target: str
    d: str  # the SVG path
    label_x: float
    label_y: float
    kind: str = "transition"  # transition | approve | reject
    shape: str = "forward"  # forward | column | back | loop

    @property
    def label_w(self) -> float:
        return text_width(self.label, FONT - 1) + 10


@dataclass
class Diagram:
    """A laid-out workflow: boxes, arrows and the size of the drawing."""

    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    width: float = 0
    height: float = 0
    start: tuple[float, float] | None = None  # the start dot, left of the initial state

    def box(self, name: str) -> Box:
        """The box of a state."""
        return next(b for b in self.boxes if b.name == name)


@dataclass(frozen=True)
class Edge:
    """An arrow to draw, before layout."""

    name: str
    label: str
    source: str
    target: str
    kind: str = "transition"


def _label(value: Any, locale: str, fallback: str) -> str:
    if isinstance(value, Mapping):
        for key in (locale, locale.split("-")[0], "en", "zh-CN"):
            if value.get(key):
                return str(value[key])
        return next((str(v) for v in value.values() if v), fallback)
    return str(value) if value else fallback


def states_of(workflow: Mapping[str, Any], locale: str = "en") -> list[tuple[str, str]]:
    """(name, label) of each state, in document order (a name given twice counts once)."""
    out: dict[str, str] = {}
    for state in workflow.get("states") or []:
        if isinstance(state, Mapping):
            name = str(state.get("name") or "")
            text = _label(state.get("label"), locale, name)
        else:
            name = text = str(state)
        if name and name not in out:
            out[name] = text
    return list(out.items())


def edges_of(
    workflow: Mapping[str, Any], locale: str = "en", outcomes: Mapping[str, str] | None = None
) -> list[Edge]:
    """One edge per transition and `from` state, then approval outcomes (approve, reject);
    `outcomes` names those two in the reader's language."""
    names = outcomes or {"approve": "approve", "reject": "reject"}
    edges: list[Edge] = []
    transitions = workflow.get("transitions")
    for tname, tr in (transitions if isinstance(transitions, Mapping) else {}).items():
        if not isinstance(tr, Mapping):
            continue
        sources = tr.get("from")
        sources = [sources] if isinstance(sources, str) else list(sources or [])
        text = _label(tr.get("label"), locale, str(tname))
        for source in sources:
            edges.append(Edge(str(tname), text, str(source), str(tr.get("to")), "transition"))
    approvals = workflow.get("approvals")
    for state, approval in (approvals if isinstance(approvals, Mapping) else {}).items():
        if not isinstance(approval, Mapping):
            continue
        for key, kind in (("approve_to", "approve"), ("reject_to", "reject")):
            if approval.get(key):
                edges.append(Edge(kind, names[kind], str(state), str(approval[key]), kind))
    return edges


def columns_of(states: list[str], initial: str | None, edges: list[Edge]) -> dict[str, int]:
    """Each state's column: its BFS distance from `initial`; unreached states after the rest."""
    out: dict[str, int] = {}
    if initial in states:
        out[initial] = 0
        queue = [initial]
        while queue:
            current = queue.pop(0)
            for edge in edges:
                if edge.source == current and edge.target in states and edge.target not in out:
                    out[edge.target] = out[current] + 1
                    queue.append(edge.target)
    last = max(out.values(), default=-1) + 1
    for name in states:
        out.setdefault(name, last)
    return out


def _mid(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float],
         p3: tuple[float, float]) -> tuple[float, float]:  # fmt: skip
    """The point of a cubic Bézier at t = 1/2."""
    return (
        (p0[0] + 3 * p1[0] + 3 * p2[0] + p3[0]) / 8,
        (p0[1] + 3 * p1[1] + 3 * p2[1] + p3[1]) / 8,
    )


def _curve(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float],
           p3: tuple[float, float]) -> str:  # fmt: skip
    nums = [round(v, 1) for point in (p0, p1, p2, p3) for v in point]
    return "M {} {} C {} {}, {} {}, {} {}".format(*nums)


def layout(workflow: Mapping[str, Any], locale: str = "en",
           outcomes: Mapping[str, str] | None = None) -> Diagram:  # fmt: skip
    """The diagram of a workflow document: every state boxed, an arrow per edge."""
    states = states_of(workflow, locale)
    names = [name for name, _ in states]
    labels = dict(states)
    edges = [
        e for e in edges_of(workflow, locale, outcomes) if e.source in labels and e.target in labels
    ]
    initial = workflow.get("initial")
    column = columns_of(names, initial if isinstance(initial, str) else None, edges)
    reached = _reached(initial, edges)
    found = workflow.get("approvals")
    approvals: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    count = max(column.values(), default=-1) + 1
    members: list[list[str]] = [[n for n in names if column[n] == c] for c in range(count)]
    widths = [
        max((min(MAX_W, max(MIN_W, text_width(labels[n]) + 28)) for n in col), default=MIN_W)
        for col in members
    ]
    tallest = max((len(col) for col in members), default=1)
    # A gap wide enough for the labels of the arrows that cross it to the next column.
    gaps: list[float] = [float(GAP_X)] * count
    bulging = {
        column[e.source]
        for e in edges
        if e.source != e.target and column[e.source] == column[e.target]
    }
    for edge in edges:
        if column[edge.target] == column[edge.source] + 1:
            need = text_width(edge.label, FONT - 1) + 40
            if column[edge.source] in bulging:  # arrows inside the column bow into this gap
                need += 56
            gaps[column[edge.source]] = min(MAX_GAP, max(gaps[column[edge.source]], need))
    diagram = Diagram()
    x: float = MARGIN_X
    for index, col in enumerate(members):
        offset = (tallest - len(col)) * (BOX_H + GAP_Y) / 2
        for row, name in enumerate(col):
            diagram.boxes.append(
                Box(
                    name,
                    labels[name],
                    x,
                    MARGIN_TOP + offset + row * (BOX_H + GAP_Y),
                    widths[index],
                    BOX_H,
                    index,
                    initial=name == initial,
                    reachable=name in reached,
                    approval=name in approvals,
                )
            )
        x += widths[index] + gaps[index]
    bottom = max((b.y + b.h for b in diagram.boxes), default=MARGIN_TOP)
    _place_arrows(diagram, edges, bottom)
    _spread_labels(diagram)
    lowest = max([bottom] + [a.label_y + 12 for a in diagram.arrows])
    diagram.width = max(x - (gaps[-1] if gaps else 0) + MARGIN_X, 240)
    diagram.height = lowest + 24
    if initial in labels:
        start = diagram.box(str(initial))
        diagram.start = (start.x - 30, start.cy)
    return diagram


Rect = tuple[float, float, float, float]
LABEL_H = 16
NUDGES = (0, -14, 14, -26, 26, -38, 38, -50, 50)


def _hits(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _back_route(
    diagram: Diagram, src: Box, dst: Box, spread: float, under: float, over: float
) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """The path of an arrow back to an earlier column, and where its label goes: under the
    boxes when nothing stands below either end, else over them when nothing stands above,
    else out of the source's side and into the target's through the gaps between columns.
    None of the three crosses a box."""

    def clear(box: Box, below: bool) -> bool:
        return not any(
            b.column == box.column and b is not box and (b.y > box.y if below else b.y < box.y)
            for b in diagram.boxes
        )

    sx, dx = src.cx + spread, dst.cx + spread
    if clear(src, True) and clear(dst, True):
        points = [(sx, src.y + src.h), (sx, under), (dx, under), (dx, dst.y + dst.h)]
        return points, ((sx + dx) / 2, under)
    if clear(src, False) and clear(dst, False):
        points = [(sx, src.y), (sx, over), (dx, over), (dx, dst.y)]
        return points, ((sx + dx) / 2, over)
    lane = len([a for a in diagram.arrows if a.shape == "back"]) * 6
    left, right = src.x - 16 - lane, dst.x + dst.w + 16 + lane
    points = [
        (src.x, src.cy + 10),
        (left, src.cy + 10),
        (left, under),
        (right, under),
        (right, dst.cy + 10),
        (dst.x + dst.w, dst.cy + 10),
    ]
    return points, ((left + right) / 2, under)


def _spread_labels(diagram: Diagram) -> None:
    """Move each arrow's label up or down, as little as it takes, off the boxes and the labels
    placed before it (labels sit where their curves cross, so they meet often)."""
    taken: list[Rect] = [(b.x, b.y, b.w, b.h) for b in diagram.boxes]
    placed = []
    for arrow in diagram.arrows:
        w = arrow.label_w
        for dy in NUDGES:
            rect = (arrow.label_x - w / 2, arrow.label_y + dy - LABEL_H / 2, w, LABEL_H)
            if not any(_hits(rect, other) for other in taken):
                break
        else:
            dy = 0
        taken.append((arrow.label_x - w / 2, arrow.label_y + dy - LABEL_H / 2, w, LABEL_H))
        placed.append(replace(arrow, label_y=arrow.label_y + dy))
    diagram.arrows = placed


def _rounded(points: list[tuple[float, float]], radius: float = 8) -> str:
    """A polyline of horizontal and vertical runs with rounded corners, as an SVG path."""
    out = [f"M {points[0][0]:.1f} {points[0][1]:.1f}"]
    for prev, corner, nxt in zip(points, points[1:], points[2:], strict=False):
        r = min(radius, _dist(prev, corner) / 2, _dist(corner, nxt) / 2)
        a = _toward(corner, prev, r)
        b = _toward(corner, nxt, r)
        out.append(
            f"L {a[0]:.1f} {a[1]:.1f} Q {corner[0]:.1f} {corner[1]:.1f} {b[0]:.1f} {b[1]:.1f}"
        )
    out.append(f"L {points[-1][0]:.1f} {points[-1][1]:.1f}")
    return " ".join(out)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _toward(a: tuple[float, float], b: tuple[float, float], r: float) -> tuple[float, float]:
    """The point `r` from `a` toward `b` along a horizontal or vertical run."""
    length = _dist(a, b) or 1
    return (a[0] + (b[0] - a[0]) * r / length, a[1] + (b[1] - a[1]) * r / length)


def _reached(initial: Any, edges: list[Edge]) -> set[Any]:
    seen, todo = {initial}, [initial]
    while todo:
        current = todo.pop()
        for edge in edges:
            if edge.source == current and edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return seen


def _place_arrows(diagram: Diagram, edges: list[Edge], bottom: float) -> None:
    # Parallel arrows between one pair of states are spread apart so each stays visible.
    pairs: dict[tuple[str, str], list[Edge]] = {}
    for edge in edges:
        pairs.setdefault((edge.source, edge.target), []).append(edge)
    under = bottom + UNDER_STEP
    over = max(12.0, min((b.y for b in diagram.boxes), default=MARGIN_TOP) - 22)
    loops: dict[str, int] = {}
    for edge in edges:
        src, dst = diagram.box(edge.source), diagram.box(edge.target)
        group = pairs[(edge.source, edge.target)]
        step = min(18.0, 36 / max(1, len(group) - 1))
        spread = (group.index(edge) - (len(group) - 1) / 2) * step
        if edge.source == edge.target:
            n = loops.get(edge.source, 0)
            loops[edge.source] = n + 1
            left, right = src.x + src.w * 0.3 - n * 8, src.x + src.w * 0.7 + n * 8
            top = src.y - LOOP_H - n * 10
            p = ((left, src.y), (left - 6, top), (right + 6, top), (right, src.y))
            shape = "loop"
        elif dst.column > src.column:
            p0 = (src.x + src.w, src.cy + spread)
            p3 = (dst.x, dst.cy + spread)
            bend = max(36.0, (p3[0] - p0[0]) / 2)
            p = (p0, (p0[0] + bend, p0[1]), (p3[0] - bend, p3[1]), p3)
            shape = "forward"
        elif dst.column == src.column:
            p0 = (src.x + src.w, src.cy + spread)
            p3 = (dst.x + dst.w, dst.cy + spread)
            bulge = 40 + abs(dst.y - src.y) / 6
            p = (p0, (p0[0] + bulge, p0[1]), (p3[0] + bulge, p3[1]), p3)
            shape = "column"
        else:
            route, label_at = _back_route(diagram, src, dst, spread, under, over)
            if label_at[1] == under:
                under += UNDER_STEP
            elif label_at[1] == over:
                over = max(12.0, over - UNDER_STEP)
            diagram.arrows.append(
                Arrow(
                    edge.name,
                    edge.label,
                    edge.source,
                    edge.target,
                    _rounded(route),
                    label_at[0],
                    label_at[1],
                    edge.kind,
                    "back",
                )  # fmt: skip
            )
            continue
        mx, my = _mid(*p)
        if shape == "loop":
            my -= 4
        elif shape == "column":
            # Beside the bulge, not on it: the arrows leaving the column pass there.
            mx += text_width(edge.label, FONT - 1) / 2 + 8
        diagram.arrows.append(
            Arrow(
                edge.name,
                edge.label,
                edge.source,
                edge.target,
                _curve(*p),
                mx,
                my,
                edge.kind,
                shape,
            )  # fmt: skip
        )
