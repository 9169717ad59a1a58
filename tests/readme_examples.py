#!/usr/bin/env python3
"""Runs the README's examples as written and compares what they print.

Every line of a fenced block that starts with "$ " is a command (a trailing backslash
continues it); the lines after it, up to the next command or the end of the block, are its
expected output. Each command runs with bash in a fresh directory that holds the
repository's examples/ and scenarios/ and build/ (this build), with build/apps first on
PATH (the README calls the programs both ways). The output must match line by line once
numbers are masked (timings and counts vary; everything else must be as shown), in any
order; "..." ends the comparison of a block. A command whose shown output is an error ("tool: ...",
"FAILED", "VIOLATION", failing cases) must exit non-zero, any other must exit 0. A shown
line that ends in "..." matches any printed line that starts with the rest. The tokenclient
examples talk to a cluster: the script starts one with tokencluster (examples/cluster.yaml,
ports 50051-50053, which must be free) before the first of them and stops it, by its pid,
after the last.

  readme_examples.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

source, build = sys.argv[1], sys.argv[2]


def examples(readme):
    """[(command, [expected lines], line number)] in README order."""
    out, in_block, current = [], False, None
    lines = open(readme).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_block = not in_block
            current = None
        elif in_block and line.startswith("$ "):
            number = i + 1
            command = line[2:]
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            command = re.sub(r"\s+#.*$", "", command)  # a trailing comment
            current = (command, [], number)
            out.append(current)
        elif in_block and current is not None:
            current[1].append(line)
        i += 1
    return out


def mask(line):
    # Numbers vary (timings, counts); so does which token tokenload's checker reports
    # first, so a leading "checker: " is not part of the comparison.
    line = re.sub(r"\s+", " ", re.sub(r"[0-9]+(\.[0-9]+)?", "#", line)).strip()
    return line[len("checker: "):] if line.startswith("checker: ") else line


def free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


work = tempfile.mkdtemp(prefix="readme-examples-")
for d in ("examples", "scenarios"):
    shutil.copytree(os.path.join(source, d), os.path.join(work, d))
os.symlink(os.path.abspath(build), os.path.join(work, "build"))
env = dict(os.environ, PATH=os.path.join(os.path.abspath(build), "apps") + ":" + os.environ["PATH"])
todo = examples(os.path.join(source, "README.md"))
client_examples = [n for n, (c, _, _) in enumerate(todo) if c.startswith("tokenclient ")]
cluster = None
failures = []
os.makedirs("/tmp/empty", exist_ok=True)  # the README's refused empty data directory
try:
    for n, (command, expected, line) in enumerate(todo):
        if client_examples and n == client_examples[0]:
            busy = [p for p in (50051, 50052, 50053) if not free(p)]
            if busy:
                failures.append(f"ports {busy} are in use: cannot start the README's cluster")
                break
            cluster = subprocess.Popen(
                ["tokencluster", "--config", "examples/cluster.yaml", "--quiet"], cwd=work,
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(200):
                if not any(free(p) for p in (50051, 50052, 50053)):
                    break
                time.sleep(0.05)
            time.sleep(0.5)
        r = subprocess.run(["bash", "-c", command], cwd=work, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=600)
        shown = [l for l in expected if l.strip()]
        if "..." in shown:
            shown = shown[: shown.index("...")]
        is_error = any(re.match(r"^(tokenclient|tokenserver|tokensim|tokencheck): ", l) or
                       l.startswith("FAILED") or l.startswith("VIOLATION") or
                       "failing case" in l for l in shown)
        if (r.returncode != 0) != is_error:
            failures.append(f"README.md:{line}: {command}\n  exit {r.returncode}, "
                            f"expected {'non-zero' if is_error else '0'}\n{r.stdout}{r.stderr}")
        got = [l for l in (r.stdout + r.stderr).split("\n") if l.strip()]
        # Every output line shown must be printed (masked), each matching a line of its own;
        # a block may show a subset. (Not in order: tokens are reported in the order the
        # history met them.)
        left = [mask(g) for g in got]
        for want in shown:
            if mask(want) in left:
                left.remove(mask(want))
                continue
            # A line shown ending in "..." stands for every line that starts with the rest.
            if want.endswith("...") and want != "...":
                prefix = mask(want[:-3])
                match = next((g for g in left if g.startswith(prefix)), None)
                if match is not None:
                    left.remove(match)
                    continue
            failures.append(f"README.md:{line}: {command}\n  missing: {want}\n  got:\n" +
                            "\n".join("    " + g for g in got))
            break
        print(f"README.md:{line}: exit {r.returncode}: {command[:90]}")
        if cluster is not None and n == client_examples[-1]:
            cluster.send_signal(signal.SIGTERM)
            cluster.wait(timeout=30)
            cluster = None
finally:
    if cluster is not None:
        cluster.kill()
        cluster.wait()
    shutil.rmtree(work, ignore_errors=True)
for f in failures:
    print("FAIL " + f, file=sys.stderr)
print(f"{len(todo)} examples, {len(failures)} failures")
sys.exit(1 if failures else 0)
