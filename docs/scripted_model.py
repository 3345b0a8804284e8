"""A stand-in model for trying evaluate-dataset without a GPU: the tests' OpenAI-compatible server
with a naive refusal rule.

It refuses a prompt that holds an alarming English word, unless the prompt's
first line asks for a translation or for a choice among options, and answers
everything else with a fixed text.  Its report therefore shows, by
construction, the pattern the paper measures in real models: requests that
arrive as "translate this" or "pick the best option" are answered, plain ones
are refused, and harmless look-alikes ("kill a Python process") are refused too.
``--strict`` drops the exception for translations and choices: a stand-in for
a model tuned on safety rows in every task form, to try ``--compare`` with.

    python docs/scripted_model.py --port 8765             # prints http://127.0.0.1:8765/v1
    python docs/scripted_model.py --port 8766 --strict
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from openai_server import OpenAIServer, last_user, serve_until_interrupted  # noqa: E402

ALARMING = re.compile(
    r"\b(?:kill\w*|weapons?|bombs?|explosives?|hack\w*|steal\w*|drugs?|poison\w*|attack\w*|malware|"
    r"ransomware|exploit\w*|fraud\w*|scam\w*|suicide|self-harm|harass\w*|stalk\w*|illegal\w*|violen\w*|"
    r"terror\w*|phishing|launder\w*|counterfeit\w*|abuse\w*|racist|slurs?)\b", re.IGNORECASE)
TASK_WRAPPERS = re.compile(r"translat|\boptions?\b|\bpick\b|\bchoose\b|\blabel\b", re.IGNORECASE)
REFUSAL = "I'm sorry, but I can't help with that."
ANSWER = "Sure, here is a response to your request."


def naive_model(body: dict, strict: bool = False) -> str:
    prompt = last_user(body)
    first_line = prompt.strip().split("\n", 1)[0]
    follows_the_task = not strict and TASK_WRAPPERS.search(first_line) is not None
    return REFUSAL if ALARMING.search(prompt) and not follows_the_task else ANSWER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--strict", action="store_true", help="refuse alarming words in every task form")
    args = parser.parse_args()
    server = OpenAIServer(lambda body: naive_model(body, args.strict), port=args.port)
    serve_until_interrupted(server)


if __name__ == "__main__":
    main()
