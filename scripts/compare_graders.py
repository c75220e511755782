#!/usr/bin/env python3
"""Peer benchmark (not part of CI): score ttc's grader, math-verify and Lightman's PRM800K
grader on ttc's hand-written table (crates/ttc-task/tests/grader_cases.tsv).

    pip install math-verify pylatexenc sympy
    python3 scripts/compare_graders.py [--prm800k DIR_WITH_grading/grader.py]

Each pair is judged both ways round (pred/gold swapped), as the Rust test does.
"""
import argparse, json, os, subprocess, sys, tempfile, signal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "crates/ttc-task/tests/grader_cases.tsv")


def cases():
    for line in open(TABLE, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        pred, gold, want = line.rstrip("\n").split("\t")
        yield pred, gold, want.strip() == "1"


class Timeout(Exception):
    pass


def guarded(fn, a, b, seconds=5):
    def handler(*_):
        raise Timeout()
    signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        return bool(fn(a, b))
    except Timeout:
        return None
    except Exception:
        return False
    finally:
        signal.alarm(0)


def last_boxed(s):
    i = max(s.rfind("\\boxed"), s.rfind("\\fbox"))
    if i < 0:
        return None
    j = s.find("{", i)
    depth = 0
    for k in range(j, len(s)):
        depth += {"{": 1, "}": -1}.get(s[k], 0)
        if depth == 0:
            return s[j + 1:k]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prm800k", help="folder holding grading/grader.py from openai/prm800k")
    ap.add_argument("--math500", action="store_true",
                    help="judge MATH-500's last boxed solution vs answer (all should match)")
    args = ap.parse_args()
    pairs = []
    if args.math500:
        for line in open(os.path.join(ROOT, "tests/fixtures/math500/test.jsonl")):
            r = json.loads(line)
            pairs.append((last_boxed(r["solution"]) or "", r["answer"], True))
    else:
        for pred, gold, want in cases():
            pairs.append((pred, gold, want))
            pairs.append((gold, pred, want))

    graders = {}
    with tempfile.TemporaryDirectory() as t:
        inp, out = os.path.join(t, "in.jsonl"), os.path.join(t, "out.jsonl")
        with open(inp, "w") as f:
            for p, g, _ in pairs:
                f.write(json.dumps({"pred": p, "gold": g}) + "\n")
        subprocess.run(["cargo", "run", "--release", "--quiet", "--", "grade", "--input", inp,
                        "--output", out], cwd=ROOT, check=True)
        ttc = [json.loads(l)["equivalent"] for l in open(out)]
        graders["ttc"] = lambda p, g, _it=iter(ttc): next(_it)

    try:
        from math_verify import parse, verify
        graders["math-verify"] = lambda p, g: verify(parse("$" + g + "$"), parse("$" + p + "$"))
    except ImportError:
        print("math-verify not installed; skipped", file=sys.stderr)
    if args.prm800k:
        sys.path.insert(0, args.prm800k)
        from grading.grader import grade_answer
        graders["prm800k"] = lambda p, g: grade_answer(p, g)

    print(f"{len(pairs)} judgements")
    for name, fn in graders.items():
        right = wrong_pos = wrong_neg = hung = 0
        misses = []
        for p, g, want in pairs:
            got = guarded(fn, p, g) if name != "ttc" else fn(p, g)
            if got is None:
                hung += 1
                got = False
            if got == want:
                right += 1
            else:
                misses.append((p, g, want))
                if want:
                    wrong_neg += 1
                else:
                    wrong_pos += 1
        print(json.dumps({"grader": name, "accuracy": round(right / len(pairs), 4),
                          "false_accepts": wrong_pos, "false_rejects": wrong_neg,
                          "timeouts": hung}))
        for p, g, want in misses[:6]:
            print(f"    miss: {p!r} vs {g!r} (want {want})")


if __name__ == "__main__":
    main()
