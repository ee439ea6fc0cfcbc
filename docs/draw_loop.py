"""Draw the teacher -> student loop of ``train_step`` as an SVG (the figure of docs/how_it_works.md).

Hand-written SVG rather than a matplotlib figure: boxes, arrows and text are all the picture has, and SVG
keeps the text sharp, selectable and searchable at any zoom. The docs build calls :func:`write_svg`
(docs/_ext/minikd_docs.py) and the file it writes is not committed; run this script to look at it alone:

    python docs/draw_loop.py /tmp/loop.svg
"""

import sys
from html import escape
from pathlib import Path

WIDTH, HEIGHT = 960, 440
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"

# (fill, stroke) per role; readable in print and for the common colour-vision deficiencies (blue/orange/grey)
TEACHER = ("#eceff1", "#546e7a")
STUDENT = ("#e3f2fd", "#1565c0")
LOSS = ("#fff3e0", "#e65100")
UPDATE = ("#e8f5e9", "#2e7d32")
DATA = ("#ffffff", "#424242")


def box(x, y, w, h, colours, title, lines, step=None):
    """A rounded box with a bold title and lines of code under it; ``step`` puts a numbered badge on it."""
    fill, stroke = colours
    out = [f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="10" fill="{fill}" stroke="{stroke}" '
           f'stroke-width="2"/>',
           f'<text x="{x + 14}" y="{y + 24}" font-family="{FONT}" font-size="15" font-weight="bold" '
           f'fill="{stroke}">{escape(title)}</text>']
    for k, line in enumerate(lines):
        out.append(f'<text x="{x + 14}" y="{y + 48 + 19 * k}" font-family="{MONO}" font-size="12.5" '
                   f'fill="#212121" xml:space="preserve" style="white-space: pre">{escape(line)}</text>')
    if step is not None:
        out.append(badge(x + w - 4, y + 4, step, stroke))
    return "\n".join(out)


def badge(cx, cy, step, colour):
    return (f'<circle cx="{cx}" cy="{cy}" r="15" fill="{colour}"/>'
            f'<text x="{cx}" y="{cy + 5.5}" text-anchor="middle" font-family="{FONT}" font-size="16" '
            f'font-weight="bold" fill="#ffffff">{step}</text>')


def arrow(points, label=None, label_at=None, colour="#424242", dashed=False):
    """A polyline ending in an arrowhead; ``label`` is written at ``label_at`` (x, y, anchor)."""
    path = " ".join(f"{x},{y}" for x, y in points)
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    out = [f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash} '
           f'marker-end="url(#head)"/>']
    if label:
        x, y, anchor = label_at
        out.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-family="{MONO}" font-size="12.5" '
                   f'fill="{colour}">{escape(label)}</text>')
    return "\n".join(out)


def draw():
    """The SVG text of the loop: the batch feeds steps 1 and 2, they feed 3, and 4 updates the student."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="title desc">',
        '<title id="title">The four steps of one distillation step (train_step)</title>',
        '<desc id="desc">A minibatch goes to the frozen teacher (step 1, teacher logits) and to the student '
        '(step 2, student logits and a cache). The strategy turns both, and the labels, into a loss and its '
        'gradient with respect to the student logits (step 3). The student backpropagates that gradient and '
        'the optimizer updates the student parameters in place (step 4); the next minibatch starts again.</desc>',
        '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        # the minibatch
        box(20, 165, 160, 110, DATA, "minibatch", ["X[idx], y[idx]", "", "idx: dataset", "     indices"]),
        # 1. teacher (frozen) and 2. student
        box(240, 30, 300, 110, TEACHER, "teacher (frozen)",
            ["teacher_logits, teacher_hidden =", "  trainer.get_teacher_outputs(", "    X[idx], idx)  # cached by idx"],
            step=1),
        box(240, 300, 300, 110, STUDENT, "student",
            ["student_logits, cache =", "  student.forward_train(X[idx])"], step=2),
        # 3. the strategy
        box(660, 150, 280, 130, LOSS, "strategy (the loss)",
            ["loss = strategy.compute_loss(", "  student_logits,", "  teacher_logits, y[idx])",
             "dlogits = ...compute_gradient(...)"], step=3),
        # 4. the update
        box(660, 330, 280, 95, UPDATE, "update",
            ["grads = student.backward(", "  dlogits, cache)", "optimizer.step(params, grads)"], step=4),
        # data flow
        arrow([(180, 205), (210, 205), (210, 85), (235, 85)]),
        arrow([(180, 235), (210, 235), (210, 355), (235, 355)]),
        arrow([(540, 85), (610, 85), (610, 195), (655, 195)], "v (N, C)", (575, 77, "middle"),
              colour=TEACHER[1]),
        arrow([(540, 330), (610, 330), (610, 245), (655, 245)], "z (N, C)", (575, 322, "middle"),
              colour=STUDENT[1]),
        arrow([(800, 280), (800, 325)], "dlogits", (808, 308, "start"), colour=LOSS[1]),
        arrow([(660, 390), (545, 390)], "updates", (602, 408, "middle"), colour=UPDATE[1], dashed=True),
        f'<text x="390" y="180" text-anchor="middle" font-family="{FONT}" font-size="13" fill="#546e7a">'
        "softmax(v / T): what the teacher knows</text>",
        f'<text x="390" y="262" text-anchor="middle" font-family="{FONT}" font-size="13" fill="#1565c0">'
        "softmax(z / T): what the student says</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def write_svg(path):
    """Write the SVG to ``path`` if it changed (an unchanged file keeps its time, so Sphinx skips it)."""
    path = Path(path)
    text = draw()
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


if __name__ == "__main__":
    print(write_svg(sys.argv[1] if len(sys.argv) > 1 else "loop.svg"))
