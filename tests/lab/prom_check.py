#!/usr/bin/python3
"""Checks a Prometheus text exposition (stdin) and prints the samples as NAME{LABELS} VALUE.

Parses it twice: with prometheus_client's own parser (Debian python3-prometheus-client), and
with the strict line rules of the 0.0.4 format (HELP/TYPE before the samples of a metric,
metric and label names, quoted and escaped label values, numeric values, counters ending in
_total, no series twice). Exit status 1 with the reasons on stderr if anything is wrong.
"""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
errors = []
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\}'
sample_re = re.compile(r"^(%s)(%s)? ([-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf))$" % (NAME, LABELS))
types, seen, helped = {}, set(), set()
if not text.endswith("\n"):
    errors.append("the text does not end with a newline")
for no, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        name = line.split(" ", 3)[2]
        if name in helped:
            errors.append("line %d: second HELP for %s" % (no, name))
        helped.add(name)
    elif line.startswith("# TYPE "):
        parts = line.split(" ")
        if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
            errors.append("line %d: bad TYPE line: %s" % (no, line))
            continue
        if parts[2] in types:
            errors.append("line %d: second TYPE for %s" % (no, parts[2]))
        types[parts[2]] = parts[3]
    elif line.startswith("#") or not line:
        errors.append("line %d: unexpected line %r" % (no, line))
    else:
        m = sample_re.match(line)
        if not m:
            errors.append("line %d: not a sample: %r" % (no, line))
            continue
        name = m.group(1)
        if name not in types:
            errors.append("line %d: %s has no TYPE before its samples" % (no, name))
        elif types[name] == "counter" and not name.endswith("_total"):
            errors.append("line %d: counter %s does not end in _total" % (no, name))
        key = name + (m.group(2) or "")
        if key in seen:
            errors.append("line %d: series %s given twice" % (no, key))
        seen.add(key)
try:
    n = 0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
            print("%s{%s} %s" % (s.name, labels, repr(float(s.value))))
            n += 1
    if n == 0:
        errors.append("no samples")
except Exception as e:  # the reference parser refused it
    errors.append("prometheus_client parser: %s" % e)
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
