"""How many exercise answers does a chapter give away before the learner solves them?

For every line of code between ### BEGIN SOLUTION / ### END SOLUTION in solutions/NN_*.py, look for
the same expression (spaces, backticks, quotes and module prefixes ignored) in what a learner can
read before solving:

  text     the markdown of chapters/NN_*.py
  code     the student edition's code cells (helpers, plots: a helper that is an exercise's answer)
  hints    the strings of the chapter's check module (book.toml's check_module): exercise hints
           and every hint=... a failing check shows
  readme   README.md and docs/*.md (what a learner reads about the book)

and, for a value exercise set from a constant expression (`PREDICTED_X = math.log(10)`) that is not
a whole number, its value written out (2.3, 2.30, 2.303) in the chapter's text, code or hints (not the README, where such
numbers are benchmark figures: "load average 2.3"); and a figure of book.toml's key-figure list (printed
by `make book`, quoted in the README) that the solution fills from an exercise's answer.

Run from the project root: python3 tools/answers_in_text.py [NN ...]
Prints one line per give-away and a final line "N of M solution lines appear in the chapter's text".
(Extended from /work/shared/tools/answers_in_text.py, which scanned the markdown only.)
"""

import ast
import math
import re
import sys
import tomllib
from pathlib import Path


def norm(s):
    s = s.replace("`", "").replace(" ", "").replace("'", '"')
    return re.sub(r"\b(tf\.nn\.|tf\.math\.|tf\.|np\.|math\.|keras\.)", "", s)


def blocks(text):
    return re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, re.S)


def cells(text):
    """(kind, source) of each jupytext percent cell: kind is "markdown" or "code"."""
    out, kind, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("# %%"):
            if kind:
                out.append((kind, "\n".join(lines)))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind:
            lines.append(line)
    if kind:
        out.append((kind, "\n".join(lines)))
    return out


def markdown(text):
    return "\n".join(
        line[1:]
        for kind, source in cells(text)
        if kind == "markdown"
        for line in source.splitlines()
        if line.startswith("#")
    )


def code(text):
    """The code cells, without `def name(...):` lines (defining a helper the answer calls gives
    nothing away) and without comments."""
    keep = []
    for kind, source in cells(text):
        if kind != "code":
            continue
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith(("def ", "#")):
                continue
            keep.append(line)
    return "\n".join(keep)


def hint_strings(module_path):
    """Every string a learner can be shown from a check module: the arguments of Exercise(...)
    (hints and next hints) and every hint=... keyword (f-strings: their literal parts)."""

    def text(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        if isinstance(node, (ast.Tuple, ast.List)):
            return "\n".join(text(e) for e in node.elts)
        if isinstance(node, ast.BinOp):
            return text(node.left) + text(node.right)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_", "N_") and node.args:
            return text(node.args[0])  # a message marked for translation: its English text
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "format":
            return text(node.func.value)  # "...{name}...".format(...): the literal parts
        return ""

    out = []
    for node in ast.walk(ast.parse(Path(module_path).read_text())):
        if isinstance(node, ast.Call):
            if getattr(node.func, "id", None) == "Exercise":
                out += [text(a) for a in node.args] + [text(k.value) for k in node.keywords]
            out += [text(k.value) for k in node.keywords if k.arg == "hint"]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "hint" for t in node.targets):
            out.append(text(node.value))
    return "\n".join(s for s in out if s)


def constant_value(expr):
    """The value of a solution's right-hand side made of numbers and math only, else None."""
    try:
        value = eval(compile(ast.parse(expr, mode="eval"), "<answer>", "eval"), {"__builtins__": {}, "math": math})
    except Exception:
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def written_out(value, text):
    """Where ``value`` appears rounded to 1-3 decimals (2.3, 2.30, 2.303) as a number of its own."""
    for decimals in (1, 2, 3):
        shown = f"{value:.{decimals}f}"
        if re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", text):
            return shown
    return None


def main():
    ids = sys.argv[1:] or sorted({p.name[:2] for p in Path("solutions").glob("[0-9][0-9]_*.py")})
    book = tomllib.loads(Path("book.toml").read_text())
    readme = "\n".join(p.read_text() for p in [Path("README.md"), *sorted(Path("docs").glob("*.md"))] if p.exists())
    total = hits = 0
    for nn in ids:
        entry = next(c for c in book["chapters"] if c["id"] == nn)
        sol = Path(entry["solution"])
        stu = Path(entry["student"])
        module = Path(*entry["check_module"].split(".")).with_suffix(".py") if entry.get("check_module") else None
        student = stu.read_text()
        raw = {
            "text": markdown(student),
            "code": code(student),
            "hints": hint_strings(module) if module and module.exists() else "",
            "readme": readme,
        }
        places = {where: norm(text) for where, text in raw.items()}
        answers = {}  # exercise variables set inside a solution block
        for block in blocks(sol.read_text()):
            for line in block.splitlines():
                code_line = line.strip()
                target = re.match(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.+)$", code_line)
                if target:
                    answers[target.group(1)] = target.group(2)
                if not code_line or code_line.startswith("#") or len(code_line) < 12:
                    continue
                expr = re.sub(r"^(return|if|elif|else:)\s*", "", code_line)
                expr = re.sub(r"^[A-Za-z_][A-Za-z0-9_]*\s*=\s*", "", expr).rstrip(":")
                helper = re.fullmatch(r"(\w+)\([\w, ]*\)", expr)
                if helper and re.search(rf"^def {helper.group(1)}\(", student, re.M):
                    continue  # only calls a helper the chapter gives, with plain names: no answer in it
                total += 1
                found = [where for where, text in places.items() if len(norm(expr)) >= 8 and norm(expr) in text]
                if found:
                    hits += 1
                    print(f"{nn}: {code_line}    (in {', '.join(found)})")
        for name, expr in answers.items():
            value = constant_value(expr)
            if value is None or value.is_integer():
                # a whole number (KEEP_PROB_EVAL = 1.0) is written out in any text as a count or a
                # default ("the default 1.0"); such an answer leaks through its line, matched above
                continue
            total += 1
            found = [
                f"{where} ({shown})"
                for where, text in raw.items()
                if where != "readme" and (shown := written_out(value, text))
            ]
            if found:
                hits += 1
                print(f"{nn}: {name} = {expr} written out    (in {', '.join(found)})")
        # key figures: a metrics entry filled from an exercise's answer, shown by make book / the README
        metrics = dict(re.findall(r'"(\w+)":\s*([A-Z][A-Z0-9_]*)\b', sol.read_text()))
        for figure, variable in metrics.items():
            if variable not in answers:
                continue
            total += 1
            found = (["book.toml figures"] if figure in entry.get("figures", []) else []) + (
                ["readme"] if re.search(rf"\b{figure}\b", readme) else []
            )
            if found:
                hits += 1
                print(f"{nn}: key figure {figure} is {variable}, an exercise's answer    (in {', '.join(found)})")
    print(f"{hits} of {total} solution lines appear in the chapter's text")


if __name__ == "__main__":
    main()
