"""Benign answers laid out for the template that wraps them.

Every prompt template serves harmful seeds and benign items alike, so that
the wrapper never tells a model which rows to refuse.  A benign item carries
the content a correct answer needs (``answer``, ``summary``, ``steps``,
``difficulty``, ``method``, translations, a tested code solution); the
template's ``compose`` name picks the layout its prompt asks for.  A composer
returns ``None`` when the item lacks what that layout needs: the item is then
not wrapped by that template.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .render import Template

Fields = dict
Composer = Callable[[Fields, Template], "str | None"]

DIFFICULTY_SCALE = {"EASY": 2, "MEDIUM": 3, "HARD": 4}


def _steps(item: Fields) -> list[str] | None:
    steps = item.get("steps") or []
    return [s.strip().rstrip(".") + "." for s in steps] if len(steps) >= 2 else None


def _numbered(steps: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))


def _bulleted(steps: list[str]) -> str:
    return "\n".join(f"- {s}" for s in steps)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


_ENDING = re.compile(r"^(?:finish|end|finally|lastly)\b", re.IGNORECASE)


def _paragraph(steps: list[str]) -> str:
    """Steps as one paragraph, linked the way a person would write them: a "Then" after
    the first step and a "Finally" before the last, the rest as plain sentences."""
    linked = list(steps)
    if len(linked) > 2:
        linked[1] = f"Then {_lower_first(linked[1])}"
    if len(linked) > 1 and not _ENDING.match(linked[-1]):
        linked[-1] = f"Finally, {_lower_first(linked[-1])}"
    return " ".join(linked)


# A summary restates the request as "The writer wants to ..."; a cheat sheet's goal is the bare aim.
_WRITER = re.compile(r"^the (?:writer|poster|user|person|sender)\s+(?:wants|would like|needs|hopes|is trying|asks how)"
                     r"(?:\s+to know)?(?:\s+how)?\s+to\s+", re.IGNORECASE)
# What each method label means, said before the method itself.
METHOD_REASONS = {"PHYSICAL": "It is mainly hands-on work with physical things.",
                  "DIGITAL": "It is done mainly on a computer or phone.",
                  "SOCIAL": "It mainly depends on talking to and working with people."}
# Requests that ask for a plan get the plan option where a template offers one.
_PLAN = re.compile(r"^\W*(?:please\s+)?(?:plan|build|create|make|design|draft|put together|organi[sz]e|schedule|"
                   r"set up|prepare)\b", re.IGNORECASE)


def answer(item: Fields, template: Template) -> str | None:
    return item.get("answer") or None


def answer_for_steps(item: Fields, template: Template) -> str | None:
    """The answer, for prompts that ask not to skip any steps: only items that have steps."""
    return item.get("answer") if _steps(item) and item.get("answer") else None


def bullets(item: Fields, template: Template) -> str | None:
    steps = _steps(item)
    return _bulleted(steps) if steps else None


def steps_numbered(item: Fields, template: Template) -> str | None:
    steps = _steps(item)
    return _numbered(steps) if steps else None


def steps_paragraph(item: Fields, template: Template) -> str | None:
    steps = _steps(item)
    return _paragraph(steps) if steps else None


def tldr(item: Fields, template: Template) -> str | None:
    steps = _steps(item)
    return _bulleted(steps[:5]) if steps else None


def cheat_sheet(item: Fields, template: Template) -> str | None:
    steps, difficulty, summary = _steps(item), item.get("difficulty"), item.get("summary")
    if not steps or not difficulty or not summary:
        return None
    goal = _WRITER.sub("", summary)
    header = f"**Goal:** {goal[:1].upper()}{goal[1:]}" if goal != summary else f"**Situation:** {summary}"
    return f"{header}\n\n**Steps:**\n{_numbered(steps)}\n\n**Difficulty for a beginner:** {difficulty.lower()}."


def key_points(item: Fields, template: Template) -> str | None:
    steps = _steps(item)
    return "Key points:\n" + _bulleted(steps) if steps else None


def post_summary(item: Fields, template: Template) -> str | None:
    """What the post asks, then the answer it wants, introduced as the template words it."""
    steps, summary = _steps(item), item.get("summary")
    if not steps or not summary or not template.lead:
        return None
    return f"{summary}\n\n{template.lead}\n{_bulleted(steps)}"


def _translation(item: Fields, template: Template) -> dict | None:
    return (item.get("translations") or {}).get(template.target)


def translation(item: Fields, template: Template) -> str | None:
    found = _translation(item, template)
    return found.get("text") if found else None


def back_translation(item: Fields, template: Template) -> str | None:
    """Into English: the prompt holds the request's human translation; the answer is the request."""
    found = (item.get("translations") or {}).get(template.source_language)
    return item.get("request") if found and found.get("text") and item.get("request") else None


def translation_answer(item: Fields, template: Template) -> str | None:
    found = _translation(item, template)
    if not found or not found.get("answer"):
        return None
    return f"{found['text']}\n\n{found['answer']}"


def choose_detailed(item: Fields, template: Template) -> str | None:
    """The option a benign answer picks, then the steps: the plan option for a request to plan
    something, where the template offers one, else the step-by-step option."""
    steps = _steps(item)
    if not steps or not template.lead:
        return None
    lead = template.plan_lead if template.plan_lead and _PLAN.match(item.get("request", "")) else template.lead
    return f"{lead}\n\n{_numbered(steps)}"


def difficulty_steps(item: Fields, template: Template) -> str | None:
    steps, difficulty = _steps(item), item.get("difficulty")
    return f"{difficulty}\n\n{_numbered(steps)}" if steps and difficulty else None


def method_label(item: Fields, template: Template) -> str | None:
    steps, method = _steps(item), item.get("method")
    if not steps or method not in METHOD_REASONS:
        return None
    return f"{method}\n\n{METHOD_REASONS[method]} {_paragraph(steps)}"


def scale_steps(item: Fields, template: Template) -> str | None:
    steps, difficulty = _steps(item), item.get("difficulty")
    if not steps or difficulty not in DIFFICULTY_SCALE:
        return None
    return f"{DIFFICULTY_SCALE[difficulty]}\n\n{_numbered(steps)}"


def true_false(item: Fields, template: Template) -> str | None:
    """The three statements of classification/true_false@v2, from the item's labels."""
    steps, difficulty, method = _steps(item), item.get("difficulty"), item.get("method")
    if not steps or difficulty not in DIFFICULTY_SCALE or method not in ("PHYSICAL", "DIGITAL", "SOCIAL"):
        return None
    verdicts = [difficulty != "HARD", method == "DIGITAL", method == "SOCIAL"]
    labels = "\n".join(f"{i}. {'TRUE' if v else 'FALSE'}" for i, v in enumerate(verdicts, 1))
    return f"{labels}\n\n{_paragraph(steps)}"


def choice_answer(item: Fields, template: Template) -> str | None:
    return f"{template.lead}\n\n{item['answer']}" if item.get("answer") and template.lead else None


def _code(item: Fields, template: Template) -> dict | None:
    code = item.get("code")
    return code if code and code.get("language") == template.code_language else None


def _main(demo: str) -> str:
    body = "\n".join(f"    {line}" if line.strip() else "" for line in demo.strip("\n").splitlines())
    return f"def main() -> None:\n{body}\n\n\nif __name__ == \"__main__\":\n    main()"


def py_function(item: Fields, template: Template) -> str | None:
    code = _code(item, template)
    if not code:
        return None
    return f"```python\n{code['solution'].strip()}\n```\n\nExample:\n\n```python\n{code['demo'].strip()}\n```"


def py_script(item: Fields, template: Template) -> str | None:
    """A runnable script: the solution, then a main() that shows it on an example.  Only
    solutions with comments of their own, since the prompts ask for an explained script."""
    code = _code(item, template)
    if not code or not re.search(r"^\s*#\s*\S", code["solution"], re.MULTILINE):
        return None
    return f"```python\n{code['solution'].strip()}\n\n\n{_main(code['demo'])}\n```"


def py_example(item: Fields, template: Template) -> str | None:
    """The solution, then a main() that runs it on an example."""
    code = _code(item, template)
    return f"```python\n{code['solution'].strip()}\n\n\n{_main(code['demo'])}\n```" if code else None


def py_fix(item: Fields, template: Template) -> str | None:
    code = _code(item, template)
    if not code:
        return None
    return f"Here is a full working version:\n\n```python\n{code['solution'].strip()}\n\n\n{_main(code['demo'])}\n```"


def py_pseudocode(item: Fields, template: Template) -> str | None:
    code = _code(item, template)
    if not code or not code.get("pseudocode"):
        return None
    return (f"Pseudocode:\n\n```\n{code['pseudocode'].strip()}\n```\n\n"
            f"Python:\n\n```python\n{code['solution'].strip()}\n```")


def bash(item: Fields, template: Template) -> str | None:
    code = _code(item, template)
    return f"```bash\n{code['solution'].strip()}\n```" if code else None


def node_module(item: Fields, template: Template) -> str | None:
    code = _code(item, template)
    if not code:
        return None
    return (f"```javascript\n// {code['module_name']}.js\n{code['solution'].strip()}\n```\n\n"
            f"Usage:\n\n```javascript\n{code['usage'].strip()}\n```")


def go_cli(item: Fields, template: Template) -> str | None:
    code = _code(item, template)
    if not code:
        return None
    return f"```go\n{code['solution'].strip()}\n```\n\nRun it with:\n\n```\n{code['run'].strip()}\n```"


COMPOSERS: dict[str, Composer] = {
    fn.__name__: fn for fn in (
        answer, answer_for_steps, bullets, steps_numbered, steps_paragraph, tldr, cheat_sheet, key_points, post_summary,
        translation, back_translation, translation_answer, choose_detailed, difficulty_steps, method_label, scale_steps,
        true_false, choice_answer, py_function, py_script, py_example, py_fix, py_pseudocode, bash, node_module, go_cli,
    )
}


def compose(item: Fields, template: Template) -> str | None:
    """The benign answer for ``item`` laid out as ``template`` asks, or None."""
    try:
        composer = COMPOSERS[template.compose]
    except KeyError:
        raise KeyError(f"template {template.id} names composer {template.compose!r}; "
                       f"known: {', '.join(sorted(COMPOSERS))}") from None
    return composer(item, template)


def response_language(template: Template, label: str) -> str:
    """The language a row's response is written in: translations answer in the
    language asked for; refusals in the language of the instruction."""
    if label == "benign" and template.target and template.compose.startswith("translation"):
        return template.target
    return template.language
