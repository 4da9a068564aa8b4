#!/usr/bin/env python3
"""Lists source files over 450 lines and functions over 60 lines under src/ (issue 11's limits).

A function runs from its `fn` line to the first later line that closes it at the same
indentation; doc comments and attributes are not counted. Exit code 1 if anything is over.
"""
import pathlib
import re
import sys

FILE_LIMIT, FN_LIMIT = 450, 60
FN = re.compile(r"^(\s*)(pub(\([a-z]+\))? )?(async )?(unsafe )?fn \w+")
over = []
for path in sorted(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src").rglob("*.rs")):
    lines = path.read_text().split("\n")
    if len(lines) > FILE_LIMIT:
        over.append(f"{path}: {len(lines)} lines")
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        indent = m.group(1)
        for j in range(i + 1, len(lines)):
            if lines[j] == indent + "}":
                if j - i + 1 > FN_LIMIT:
                    over.append(f"{path}:{i + 1}: fn of {j - i + 1} lines")
                break
print("\n".join(over) or "all files <= 450 lines, all functions <= 60 lines")
sys.exit(1 if over else 0)
