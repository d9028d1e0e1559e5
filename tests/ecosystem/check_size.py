#!/usr/bin/env python3
"""Size limits of the source tree (issue 14): no file in lib/ over 600 lines,
no function over 80 lines in lib/ or tools/.

usage: check_size.py [ROOT]

A function is counted from the first line of its definition (the return
type, at column 0) to its closing brace at column 0, both included; the
tree is clang-formatted, so every function definition starts at column 0 and
ends with a lone "}". Prints one line per violation and exits 1 if there is
any, 0 otherwise.
"""
import os
import re
import sys

MAX_FILE_LINES = 600
MAX_FUNC_LINES = 80

# A definition's first line: an identifier at column 0 that is no keyword
# which starts a type or a directive ("struct x {" at column 0 is a type).
START = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \*]*\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
NOT_FUNC = ("typedef", "struct", "union", "enum", "extern \"C\"")


def functions(lines):
    """Yield (name, first line number, length) for each function."""
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        m = START.match(line)
        if not m or line.startswith(NOT_FUNC) or line.rstrip().endswith(";"):
            i += 1
            continue
        # The signature may take several lines; it ends with "{" on a line
        # whose parentheses are balanced overall, or with ";" (a prototype).
        j = i
        depth = 0
        body = False
        while j < n:
            depth += lines[j].count("(") - lines[j].count(")")
            s = lines[j].rstrip()
            if depth <= 0 and s.endswith("{"):
                body = True
                break
            if depth <= 0 and (s.endswith(";") or s.endswith(",")):
                break
            j += 1
        if not body:
            i = j + 1
            continue
        k = j
        while k < n and lines[k].rstrip() != "}":
            k += 1
        yield m.group(1), i + 1, k - i + 1
        i = k + 1


def check(root):
    problems = []
    for top in ("lib", "tools"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                if top == "lib" and len(lines) > MAX_FILE_LINES:
                    problems.append("%s: %d lines (at most %d in lib/)"
                                    % (rel, len(lines), MAX_FILE_LINES))
                for name, first, length in functions(lines):
                    if length > MAX_FUNC_LINES:
                        problems.append("%s:%d: %s() has %d lines (at most %d)"
                                        % (rel, first, name, length,
                                           MAX_FUNC_LINES))
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    problems = check(os.path.abspath(root))
    for p in problems:
        print(p)
    if problems:
        print("%d size violation(s)" % len(problems))
        return 1
    print("sizes: every file and function within its limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
