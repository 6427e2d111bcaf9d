"""flowsteer's math-verify worker: grades math answers with Hugging Face's
math-verify (the grader of TRL, open-r1 and lighteval) for the Go scorer.

Long-lived: the Go side starts it once and sends batches, one JSON object a
line on stdin:

    {"id": 7, "items": [{"gold": ["18"], "pred": "18", "text": "... <answer>18</answer>"}]}

and reads one line back per batch:

    {"id": 7, "results": [{"correct": true, "gold": "18", "pred": "18"}]}

"pred" is the final-answer fragment flowsteer's extraction found (the last
<answer>, \\boxed, "####", "the answer is", else the last number); it is
parsed first, wrapped in $...$ when it carries no math delimiters, and the
whole text is parsed when the fragment yields nothing. Golds are parsed the
same way. An item is correct when any gold verifies against the prediction
(verify(gold, pred): the order matters to math-verify).

The first line written is a greeting naming the grader and its version, so
the Go side can say which grader scored. Parsing timeouts use SIGALRM, so
everything runs on the main thread, one item after another.
"""

import json
import sys


def main() -> int:
    try:
        from importlib.metadata import version

        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    except Exception as e:  # noqa: BLE001 - any import failure means "unavailable"
        print(json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
        return 3
    configs = [LatexExtractionConfig(), ExprExtractionConfig()]

    def wrap(s: str) -> str:
        s = s.strip()
        if any(d in s for d in ("$", "\\(", "\\[", "\\boxed")):
            return s
        return "$" + s + "$"

    def parsed(s: str):
        if not s or not s.strip():
            return []
        try:
            return parse(wrap(s), extraction_config=configs)
        except Exception:  # noqa: BLE001 - a parse failure is "nothing parsed"
            return []

    def grade(item: dict) -> dict:
        pred = parsed(item.get("pred", ""))
        if not pred and item.get("text"):
            try:
                pred = parse(item["text"], extraction_config=configs)
            except Exception:  # noqa: BLE001
                pred = []
        out = {"correct": False, "pred": str(pred[-1]) if pred else ""}
        for g in item.get("gold", []):
            gp = parsed(g)
            if not out.get("gold") and gp:
                out["gold"] = str(gp[-1])
            if gp and pred:
                try:
                    if verify(gp, pred):
                        out["correct"] = True
                        out["gold"] = str(gp[-1])
                        break
                except Exception as e:  # noqa: BLE001
                    out["error"] = f"{type(e).__name__}: {e}"
        if not pred:
            out["error"] = out.get("error") or "math-verify parsed no answer"
        return out

    print(json.dumps({"ready": True, "grader": "math-verify", "version": version("math-verify")}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            results = [grade(it) for it in req.get("items", [])]
            print(json.dumps({"id": req.get("id"), "results": results}), flush=True)
        except Exception as e:  # noqa: BLE001 - a bad batch must not end the worker
            print(json.dumps({"id": None, "error": f"{type(e).__name__}: {e}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
