#!/usr/bin/env python3
"""Reference renderings for the Swift ChatTemplate module.

Renders model chat templates (Tests/Fixtures/chat_templates/*.jinja) with transformers' own chat template
code -- `transformers.utils.chat_template_utils.render_jinja_template`, the function behind
`tokenizer.apply_chat_template(..., tokenize=False)` -- and writes Tests/Fixtures/chat_templates/cases.json:

  templates  : name -> template file
  cases      : a model template rendered for a conversation (or the exception it raised)
  features   : small templates exercising Jinja features, rendered the same way
  syntax_errors : templates transformers' Jinja environment rejects, with Jinja's line number

The SmolLM2 template is first extracted from the GGUF metadata key `tokenizer.chat_template` with gguf-py.
Cases with a `now` field run with `datetime.now()` pinned (for `strftime_now`).

Run: /opt/refvenv/bin/python scripts/make_chat_template_references.py
"""
import datetime as _dt
import json
import os
import sys

import jinja2
import transformers.utils.chat_template_utils as ctu
from gguf import GGUFReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures", "chat_templates")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

TEMPLATES = {
    "smollm2": "smollm2_135m_instruct.jinja",
    "qwen2_5": "qwen2_5_instruct.jinja",
    "deepseek_r1_distill": "deepseek_r1_distill.jinja",
    "llama3_2": "llama3_2_instruct.jinja",
}

# Special tokens of each model (tokenizer_config.json / GGUF).
TOKENS = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "qwen2_5": (None, "<|im_end|>"),
    "deepseek_r1_distill": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "llama3_2": ("<|begin_of_text|>", "<|eot_id|>"),
}


def extract_smollm2():
    r = GGUFReader(GGUF)
    f = r.fields["tokenizer.chat_template"]
    text = bytes(f.parts[f.data[0]]).decode("utf-8")
    with open(os.path.join(FIX, TEMPLATES["smollm2"]), "w", encoding="utf-8", newline="") as out:
        out.write(text)
    # Check the GGUF's bos/eos ids map to the tokens listed above.
    tokens = r.fields["tokenizer.ggml.tokens"]

    def tok(key):
        idx = int(r.fields[key].parts[r.fields[key].data[0]][0])
        return bytes(tokens.parts[tokens.data[idx]]).decode("utf-8")

    assert (tok("tokenizer.ggml.bos_token_id"), tok("tokenizer.ggml.eos_token_id")) == TOKENS["smollm2"], (
        tok("tokenizer.ggml.bos_token_id"),
        tok("tokenizer.ggml.eos_token_id"),
    )


def read_template(name):
    with open(os.path.join(FIX, TEMPLATES[name]), encoding="utf-8", newline="") as f:
        return f.read()


class _PinnedDatetime(_dt.datetime):
    pinned = None

    @classmethod
    def now(cls, tz=None):
        return cls.pinned


def render(template, messages, add_generation_prompt, bos, eos, variables, now):
    """Returns ("ok", text) or ("error", kind, message)."""
    kwargs = dict(variables)
    tools = kwargs.pop("tools", None)
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    saved = ctu.datetime
    if now is not None:
        _PinnedDatetime.pinned = _dt.datetime.fromisoformat(now)
        ctu.datetime = _PinnedDatetime
    try:
        rendered, _ = ctu.render_jinja_template(
            conversations=[messages],
            tools=tools,
            chat_template=template,
            add_generation_prompt=add_generation_prompt,
            **kwargs,
        )
        return {"expected": rendered[0]}
    except jinja2.exceptions.TemplateSyntaxError:
        raise
    except jinja2.exceptions.UndefinedError as e:
        return {"error": {"kind": "render", "message": str(e)}}
    except jinja2.exceptions.TemplateError as e:
        # transformers' raise_exception raises a bare TemplateError with the template's message;
        # subclasses (SecurityError, ...) are Jinja's own runtime errors.
        kind = "raised" if type(e) is jinja2.exceptions.TemplateError else "render"
        return {"error": {"kind": kind, "message": str(e)}}
    except (TypeError, ValueError, ZeroDivisionError) as e:
        return {"error": {"kind": "render", "message": str(e)}}
    finally:
        ctu.datetime = saved


# ---------------------------------------------------------------------------------------------------------
# Conversations

def m(role, content):
    return {"role": role, "content": content}


SPECIAL = (
    "Quotes: 'single' \"double\" `back`\nNew line\ttab \\ backslash {{ not_a_var }} {% raw %} "
    "<|im_end|> emoji 🦙 é ß İ"
)

COMMON = [
    ("single_user_gen", [m("user", "Hello, how are you?")], True),
    ("single_user_no_gen", [m("user", "Hello, how are you?")], False),
    ("system_user", [m("system", "You are a concise assistant."), m("user", "What is 2+2?")], True),
    ("empty_system", [m("system", ""), m("user", "Hi")], True),
    (
        "multi_turn",
        [
            m("user", "Name a fruit."),
            m("assistant", "Apple."),
            m("user", "Another one?"),
            m("assistant", "Banana."),
            m("user", "And a vegetable?"),
        ],
        True,
    ),
    (
        "reasoning_history",
        [
            m("system", "Think step by step."),
            m("user", "Hi there"),
            m("assistant", "<think>\nThe user greets me. I should reply.\n</think>\n\nHello! How can I help?"),
            m("user", "Explain gravity briefly."),
            m("assistant", "<think>Short physics answer.</think>Gravity pulls masses together."),
            m("user", "Thanks."),
        ],
        True,
    ),
    (
        "reasoning_history_no_gen",
        [
            m("user", "What is 3*4?"),
            m("assistant", "<think>3*4 = 12</think>\n\n12"),
        ],
        False,
    ),
    (
        "chinese",
        [
            m("system", "你是一个乐于助人的助手。"),
            m("user", "请用一句话介绍长城。"),
            m("assistant", "长城是中国古代修建的宏伟防御工程。"),
            m("user", "谢谢！还有别的吗？"),
        ],
        True,
    ),
    ("special_characters", [m("user", SPECIAL), m("assistant", "  Sure thing.  \n\n"), m("user", "\\n is not a newline")], True),
    ("padded_content", [m("system", "  padded system \n"), m("user", "\n\n  padded question  \n")], True),
    ("ends_with_assistant", [m("user", "Say hi."), m("assistant", "Hi!")], False),
    ("only_system", [m("system", "Only a system prompt.")], True),
    ("two_system_messages", [m("system", "First rules."), m("user", "Q1"), m("system", "Second rules."), m("user", "Q2")], True),
    ("empty_conversation", [], True),
    ("empty_contents", [m("user", ""), m("assistant", ""), m("user", "")], True),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "在网络上搜索 \"quoted\" terms",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "default": 5, "minimum": 1.5}}, "required": []},
    },
}


def qwen_cases():
    weather_call = {"type": "function", "function": {"name": "get_current_weather", "arguments": {"location": "Paris", "unit": "celsius"}}}
    return [
        ("tools_no_system", [m("user", "What's the weather in Paris?")], True, {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ("tools_with_system", [m("system", "You are a weather bot."), m("user", "Weather in Oslo?")], True, {"tools": [WEATHER_TOOL]}),
        (
            "tool_call_round_trip",
            [
                m("user", "What's the weather in Paris?"),
                {"role": "assistant", "content": "", "tool_calls": [weather_call]},
                m("tool", '{"temperature": 22, "unit": "celsius"}'),
                m("tool", "second result"),
                m("assistant", "It is 22°C in Paris."),
                m("user", "Thanks!"),
            ],
            True,
            {"tools": [WEATHER_TOOL]},
        ),
        (
            "tool_calls_with_content_and_bare_call",
            [
                m("user", "Search twice."),
                {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [weather_call, {"name": "search", "arguments": {"query": "中文 \"q\"", "limit": 2}}],
                },
                m("tool", "r1"),
            ],
            True,
            {"tools": [WEATHER_TOOL, SEARCH_TOOL]},
        ),
        ("tool_first_message", [m("tool", "orphan result"), m("user", "ok")], False, {}),
    ]


def r1_cases():
    def call(name, args):
        return {"type": "function", "function": {"name": name, "arguments": args}}

    return [
        (
            "tool_call",
            [
                m("user", "Weather in Paris?"),
                {"role": "assistant", "content": None, "tool_calls": [call("get_weather", '{"city": "Paris"}')]},
                m("tool", "22C"),
                m("assistant", "It is 22C."),
            ],
            True,
            {},
        ),
        (
            "two_tool_calls_two_outputs",
            [
                m("system", "Use tools."),
                m("user", "Compare Paris and Oslo."),
                {"role": "assistant", "content": None, "tool_calls": [call("get_weather", '{"city": "Paris"}'), call("get_weather", '{"city": "Oslo"}')]},
                m("tool", "22C"),
                m("tool", "9C"),
                m("assistant", "<think>compare</think>Paris is warmer."),
                m("user", "And tomorrow?"),
            ],
            True,
            {},
        ),
        (
            "ends_with_tool_output",
            [
                m("user", "Weather?"),
                {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "{}")]},
                m("tool", "sunny"),
            ],
            True,
            {},
        ),
    ]


def llama_cases():
    call = {"type": "function", "function": {"name": "get_current_weather", "arguments": {"location": "Paris"}}}
    return [
        ("date_string_variable", [m("system", "Be brief."), m("user", "Hi")], True, {"date_string": "26 Jul 2024"}, None),
        ("strftime_now", [m("user", "What day is it?")], True, {}, "2025-03-07T14:05:09"),
        ("strftime_now_single_digit_day", [m("system", "S"), m("user", "U")], False, {}, "2024-12-01T00:00:00"),
        ("tools_in_user_message", [m("system", "You are a helpful assistant."), m("user", "  Weather in Paris?  ")], True, {"tools": [WEATHER_TOOL, SEARCH_TOOL]}, "2025-03-07T14:05:09"),
        ("tools_in_system_message", [m("user", "Weather in Paris?")], True, {"tools": [WEATHER_TOOL], "tools_in_user_message": False, "date_string": "01 Jan 2025"}, None),
        ("custom_tools", [m("user", "Search for llamas")], True, {"custom_tools": [SEARCH_TOOL], "date_string": "01 Jan 2025"}, None),
        (
            "tool_call_and_results",
            [
                m("user", "Weather in Paris?"),
                {"role": "assistant", "content": "", "tool_calls": [call]},
                m("tool", "22 degrees"),
                {"role": "ipython", "content": {"temperature": 22, "sky": "clear"}},
                {"role": "tool", "content": ["a", 1]},
                m("assistant", "It is 22 degrees."),
            ],
            True,
            {"date_string": "26 Jul 2024"},
            None,
        ),
        ("tools_without_user_message", [m("system", "Only system.")], True, {"tools": [WEATHER_TOOL], "date_string": "26 Jul 2024"}, None),
        (
            "two_tool_calls_rejected",
            [m("user", "Two things"), {"role": "assistant", "content": "", "tool_calls": [call, call]}],
            False,
            {"date_string": "26 Jul 2024"},
            None,
        ),
    ]


def build_cases():
    cases = []
    pinned_now = "2025-03-07T14:05:09"

    def add(template, name, messages, agp, variables=None, now=None, bos="default", eos="default"):
        b, e = TOKENS[template]
        if bos != "default":
            b = bos
        if eos != "default":
            e = eos
        case = {
            "template": template,
            "name": name,
            "messages": messages,
            "add_generation_prompt": agp,
            "bos_token": b,
            "eos_token": e,
            "variables": variables or {},
            "now": now,
        }
        case.update(render(read_template(template), messages, agp, b, e, variables or {}, now))
        cases.append(case)

    for template in TEMPLATES:
        # Llama's template reads the clock unless date_string is given; pin it for the common cases.
        now = pinned_now if template == "llama3_2" else None
        for name, messages, agp in COMMON:
            add(template, name, messages, agp, now=now)
        add(template, "no_bos_eos", [m("user", "No special tokens.")], True, now=now, bos=None, eos=None)
    for name, messages, agp, variables in qwen_cases():
        add("qwen2_5", name, messages, agp, variables)
    for name, messages, agp, variables in r1_cases():
        add("deepseek_r1_distill", name, messages, agp, variables)
    for name, messages, agp, variables, now in llama_cases():
        add("llama3_2", name, messages, agp, variables, now)
    return cases


# ---------------------------------------------------------------------------------------------------------
# Jinja feature checks, rendered through the same transformers environment

FEATURE_VARS = {
    "d": {"a": 1, "b": 2},
    "l": [1, 2, 3],
    "s": "héllo wörld",
    "x": 5,
    "users": [{"name": "A", "age": 3}, {"name": "b", "age": 1}, {"name": "C", "age": 2}],
    "nested": {"a": [1, {"b": None, "f": 1.5}], "c": "中文 🦙 \"q\" \\ \n", "d": [], "e": {}, "t": True},
    "convo": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "  hi there \n"},
        {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "image"}, {"type": "text", "text": " part two"}]},
        {"role": "assistant", "content": "ok", "tool_calls": None},
    ],
    "think": "<think>\n\nreasoning here\n</think>\n\nThe answer.",
}

FEATURES = [
    # whitespace control: trim_blocks / lstrip_blocks / - / +
    "a\n{% if true %}\nb\n{% endif %}\nc",
    "  {% if true %}x{% endif %}  \n  y",
    "{%- if true -%}  x  {%- endif -%}\n\n z",
    "a  {%+ if true %}b{% endif %}",
    "x {# comment #}\ny\n  {# c2 #}\nz",
    "{{ 'a' }}\n{{ 'b' }}\n",
    "  {{- 'a' -}}  \n b",
    "{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n",
    "line1\r\nline2\r\n{% if true %}\r\nx\r\n{% endif %}",
    "{% raw %}{{ not rendered }}{% endraw %}\n  {%- raw -%}  {% x %}  {%- endraw %}|",
    "a\n    {%- if true %}\n    b\n    {%- endif %}\n",
    "{#- c -#}  \n  x",
    "{% if true %}  \n  yes{% endif %}",
    "\t{% if true %}\n\tkeep\t\n\t{% endif %}\t\nend",
    "{% if true %}{% endif %}\n\n",
    # operators and literals
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 10 / 4 }} {{ 1 / 3 }} {{ 2 ** 3 ** 2 }}",
    "{{ 'a' ~ 1 ~ none ~ true ~ missing ~ 1.0 }}",
    "{{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1, 2] + [3] }} {{ 3 * 'x' }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }} {{ 2 >= 2.0 }}",
    "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ none == none }} {{ [1] == [1] }} {{ {'a': 1} == {'a': 1} }}",
    "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ not 'a' in 'abc' }} {{ 'x' in missing }}",
    "{{ x if x else 'no' }}|{{ 'yes' if true }}|{{ 'no' if false }}|{{ 'a' if false else 'b' if false else 'c' }}",
    "{{ true and 'x' }} {{ false or 'y' }} {{ 0 or none }} {{ '' and 1 }} {{ not none }} {{ [] or {} }}",
    "{{ 1.5 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.0 / 3 }} {{ 2.50 }} {{ -0.0 }} {{ 100.0 }} {{ 1.5e300 * 1e10 }} {{ 123456789.125 }}",
    "{{ [1, 'a', none, true, 1.5, {'k': [1]}] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ [] }} {{ {} }}",
    "{{ \"it's\" }} {{ ['it\\'s', \"q\\\"q\", 'new\\nline', 'tab\\t', 'uni é 中', 'both \\' \"', 'bell\\x07'] }}",
    "{{ {'a': 1, 'b': 'x', 'c': [none]} }}",
    "{{ -3 }} {{ +3 }} {{ - -3 }} {{ -x }} {{ -1.5 }}",
    "{{ 0x1F }} {{ 1_000 }} {{ 0o17 }} {{ 0b101 }} {{ 1_0.5 }} {{ 1e3 }} {{ 2E-2 }}",
    "{{ 'a' 'b' \"c\" }}",
    "{{ '\\x41\\u00e9\\n\\t|\\\\|\\q' }}",
    "{{ True }} {{ False }} {{ None }} {{ none is none }}",
    # variables, attributes, subscripts
    "{{ d.a }} {{ d['b'] }} {{ d.missing }}|{{ l[0] }} {{ l[-1] }} {{ l[10] }}|{{ l.0 }}|{{ d['b'] + l[1] }}",
    "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ s[1:4] }} {{ s[::-1] }} {{ s[-3:] }} {{ l[5:] }} {{ l[-10:2] }} {{ l[2:0:-1] }}",
    "{{ s[0] }}{{ s[-1] }}{{ s|length }}",
    "{{ missing }}|{{ missing is defined }}|{{ missing is undefined }}|{{ missing | length }}|{% for x in missing %}x{% endfor %}|{{ missing == missing }}|{{ missing is none }}|{{ not missing }}",
    "{{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'def') }}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'ab' %}[{{ c }}]{% endfor %}",
    "{{ none.x }}|{{ l.nope }}|{{ s.nope }}",
    "{{ users[1].name }} {{ users[0]['age'] + users[2].age }}",
    # string methods
    "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}|{{ 'a\\u3000b'.split() }}",
    "{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ \"they're bill's friends\".title() }} {{ 'hELLO wORLD'.capitalize() }} {{ 'aBc'.swapcase() }} {{ 'straße'.upper() }}",
    "{{ 'abc'.startswith('a') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.replace('b', 'B') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.find('c') }} {{ 'abcabc'.count('bc') }} {{ 'ab'.replace('', '-') }}",
    "{{ ', '.join(['a', 'b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'x</think>y</think>z'.split('</think>')[-1] }} {{ '12'.isdigit() }} {{ 'no think'.split('</think>')[-1] }}",
    "{{ '\\n\\nanswer'.lstrip('\\n') }}|{{ 'abc'.removeprefix('a') }}|{{ 'abc'.removesuffix('c') }}",
    # filters
    "{{ '  hi  ' | trim }}|{{ 'xhix' | trim('x') }}|{{ 'Hi' | upper }}|{{ 'Hi' | lower }}|{{ 'hello world-foo (bar)' | title }}|{{ 'hELLO' | capitalize }}|{{ missing | trim }}|{{ 3 | trim }}",
    "{{ [3, 1, 2] | length }} {{ 'abc' | length }} {{ {'a': 1} | length }} {{ [3, 1, 2] | count }} {{ 'é中' | length }}",
    "{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ 'abc' | first }} {{ [] | first }}|{{ d | first }}",
    "{{ missing | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} {{ none | default('x') }} {{ 0 | d('zero', boolean=true) }} {{ missing | default }}|",
    "{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }} {{ users | join(', ', attribute='name') }} {{ [1, none, 'x'] | join('-') }}",
    "{{ 'abc' | list }} {{ d | list }} {{ d | items | list }} {{ missing | items | list }}",
    "{{ 'aXbX' | replace('X', '-') }} {{ 'aaa' | replace('a', 'b', 1) }} {{ 123 | replace('2', 'x') }}",
    "{{ 42 | string }} {{ 1.5 | string }} {{ [1] | string }} {{ none | string }} {{ '<b>' | safe }} {{ missing | string }}|",
    "{{ '3' | int + 1 }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'ff' | int(base=16) }} {{ true | int }} {{ ' 12 ' | int }} {{ '1.9' | int }} {{ 'x' | float }}",
    "{{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ -1.5 | abs }}",
    "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ users | sort(attribute='age') | map(attribute='name') | list }}",
    "{{ [1, 2, 2, 'a', 'A'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ [1, 2, 3] | sum }} {{ [1, 5, 3] | max }} {{ [4, 2, 8] | min }} {{ users | sum(attribute='age') }}",
    "{{ users | map(attribute='name') | join('/') }} {{ ['a', 'b'] | map('upper') | list }} {{ users | selectattr('age', 'gt', 2) | map(attribute='name') | list }} {{ users | rejectattr('age', 'equalto', 1) | list | length }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ [0, 1, '', 'a'] | select | list }}",
    "{{ d | dictsort }} {{ {'b': 1, 'A': 2, 'a': 0} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value', reverse=true) }}",
    "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(width='> ', blank=true) }}|{{ '' | indent }}|",
    "{{ '<a href=\"x\">&\\'' | escape }}",
    "{{ d | attr('a') }}|{{ d | attr('items') is callable }}",
    "{{ 'one two  three' | wordcount }}",
    # tojson (transformers' override: ensure_ascii=False, indent, separators, sort_keys)
    "{{ d | tojson }} {{ l | tojson }} {{ 'é\"\\n<>&\\t\\x01' | tojson }} {{ none | tojson }} {{ 1.5 | tojson }} {{ true | tojson }} {{ [] | tojson }} {{ {} | tojson }} {{ 1e20 | tojson }}",
    "{{ nested | tojson(indent=2) }}",
    "{{ nested | tojson(indent=4, sort_keys=true) }}",
    "{{ nested | tojson(separators=(',', ':')) }}",
    "{{ nested | tojson(ensure_ascii=true) }}",
    "{{ nested | tojson(indent='\\t') }}|{{ nested | tojson(indent=0) }}",
    "{{ (1, 'a') | tojson }} {{ users | tojson }}",
    # tests
    "{{ none is none }} {{ 1 is none }} {{ 'a' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.5 is float }} {{ true is boolean }} {{ 1 is boolean }}",
    "{{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ 's' is iterable }} {{ 1 is iterable }} {{ missing is iterable }} {{ l is sequence }} {{ d is sequence }} {{ none is iterable }}",
    "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 1 is equalto 1 }} {{ 2 is eq 3 }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 2 is in [1, 2] }} {{ 3 is gt 2 }} {{ true is true }} {{ 1 is true }} {{ false is sameas false }}",
    "{{ x is not defined }} {{ not x is defined }} {{ x is defined and x > 3 }} {{ missing is not none }}",
    # control flow
    "{% for x in [1, 2, 3] %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }};{% endfor %}",
    "{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{% endfor %}",
    "{% for x in [] %}a{% else %}empty{% endfor %}|{% for x in [1] %}a{% else %}empty{% endfor %}",
    "{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}",
    "{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for (a, b) in [(5, 6)] %}{{ a * b }}{% endfor %}",
    "{% for x in 'ab' %}{% for y in [1, 2] %}{{ x }}{{ y }}{{ loop.depth }}{% endfor %}{{ loop.depth }}{% endfor %}",
    "{% for x in [1, 2, 3] %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "{% if false %}a{% elif none %}b{% elif 'x' %}c{% else %}d{% endif %}{% if 0 %}e{% endif %}",
    "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i + 10 %}{{ x }}{% endfor %}{{ x }}",
    "{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}[{{ y }}]",
    "{% set ns = namespace(total=0, items=[], flag=false) %}{% for i in range(5) %}{% set ns.total = ns.total + i %}{% set ns.flag = true %}{% endfor %}{{ ns.total }} {{ ns.items }} {{ ns.flag }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}{% set e = 5, %}{{ e }}",
    "{% set t %}inner {{ 1 + 1 }}{% endset %}[{{ t }}]{% set u | upper %}shout{% endset %}{{ u }}",
    "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }} [{{ greet() }}]",
    "{% filter upper %}shout {{ 'this' }}{% endfilter %}",
    "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]",
    "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {% for i in range(2) %}{{ i }}{% endfor %}",
    "{% set d2 = dict(a=1, b=2) %}{{ d2 }}",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %j %I %p %y %e %-d|%%') }}",
    "{% generation %}gen{% endgeneration %}",
    "{{ messages | length }} {{ add_generation_prompt }} {{ tools }} {{ documents }} {{ bos_token is defined }}",
    # constructs common in other models' chat templates
    "{%- for message in convo if message.role != 'system' %}{{ loop.index0 }}:{{ message.role }}{{ ' ' if not loop.last }}{%- endfor %}",
    "{% for message in convo %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}[odd]{% endif %}{% endfor %}",
    "{{ convo | selectattr('role', 'equalto', 'system') | list | length }} {{ (convo | length) - 1 }} {{ convo[-1]['role'] }} {{ convo | map(attribute='role') | unique | list }}",
    "{% set loop_messages = convo[1:] %}{% for m in loop_messages %}{{ m.content | trim }}|{% endfor %}",
    "{%- set content = convo[1].content if convo[1].content is string else '' %}[{{ content }}]{{ convo[2].content is string }}",
    "{% for m in convo %}{% if m.content is not string %}{% for part in m.content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %}{% else %}{{ m.content }}{% endif %};{% endfor %}",
    "{{ think.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|{{ think.split('</think>')[-1].lstrip('\\n') }}",
    "{%- set ns = namespace(found=false) -%}{%- for m in convo -%}{%- if m.role == 'system' -%}{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{{ ns.found }}",
    "{% if not (false or none) %}yes{% endif %}{% if convo[0].tool_calls is defined and convo[0].tool_calls is not none %}no{% endif %}",
    "{{ '[INST] ' + convo[1]['content'] | trim + ' [/INST]' }}",
    "{%- for m in convo %}\n    {%- if m.role == 'user' %}\n        {{- '<u>' + m.content|string }}\n    {%- elif m.role == 'assistant' %}\n        {{- '<a>' }}\n    {%- endif %}\n{%- endfor %}\n",
    "{{ convo[1] }} {{ convo[1] | tojson }} {{ convo[1].items() | list }}",
    "{{ 'A' if convo else 'B' }} {{ convo[5] is defined }} {{ (convo[5] | default({})).role is defined }}",
    # printf-style formatting
    "{{ '%s and %s' % ('a', 1) }}|{{ '%d%%' % 42 }}|{{ '%5.2f|%-6s|%06.1f|%+d|%x|%X|%#o' % (3.14159, 'ab', -2.5, 7, 255, 255, 8) }}|{{ '%r %s' % ('q', none) }}|{{ '%(a)s-%(b)d' % d }}|{{ '%.3s' % 'abcdef' }}|{{ '%c%c' % (65, 'z') }}|{{ '%e|%g' % (12345.678, 0.0001) }}",
    "{{ 'Hi %s, you are %d' | format('Ann', 3) }}|{{ '%s' | format([1, 2]) }}|{{ '%(x)s!' | format(x='kw') }}|{{ '%i' % 2.9 }}",
    "{{ '%s %s' % ('only one',) }}",
    "{{ '%d' % 'x' }}",
    # errors while rendering
    "{{ raise_exception('custom failure') }}",
    "{% if x %}{{ raise_exception('x is set: ' ~ x) }}{% endif %}ok",
    "{{ missing.attr }}",
    "{{ d.zz.x }}",
    "{{ 1 + 'a' }}",
    "{{ 'a' + 1 }}",
    "{{ l[10].x }}",
    "{{ messages[0]['role'] }}",
    "{{ missing | tojson }}",
    "{{ missing + 1 }}",
    "{{ 1 / 0 }}",
    "{{ l.append(4) }}",
]

SYNTAX_ERRORS = [
    "{% if true %}\nno end\n",
    "{% for x in y %}\n{{ x }}\n{% endif %}",
    "Hello\n  {% frobnicate %}",
    "{{ x + }}",
    "line1\n{{ 'unterminated }}",
    "line1\n{# unclosed comment",
    "{{ x | nosuchfilter }}",
    "{{ x is nosuchtest }}",
    "{% if x %}{% else %}{% else %}{% endif %}",
    "a\nb\n{{ (1, 2 }}",
    "{% endfor %}",
    "{% for x in [1] %}{% endfor %}{% break %}",
    "{% set 1 = 2 %}",
    "{{ }}",
    "{% macro m(a=1, b) %}{% endmacro %}",
    "{{ 1 }\n}",
    "x\n\n   {{ 'ok' }} {% if %}",
]


def build_features():
    out = []
    env_now = "2025-03-07T14:05:09"
    for src in FEATURES:
        case = {"source": src, "variables": FEATURE_VARS, "now": env_now}
        case.update(render(src, [], False, None, None, FEATURE_VARS, env_now))
        out.append(case)
    return out


def build_syntax_errors():
    out = []
    for src in SYNTAX_ERRORS:
        try:
            ctu._cached_compile_jinja_template(src)
        except jinja2.exceptions.TemplateSyntaxError as e:
            out.append({"source": src, "line": e.lineno, "message": e.message})
            continue
        except SyntaxError as e:
            # Jinja compiles `break` outside a loop into Python that fails to compile; no template line.
            out.append({"source": src, "line": None, "message": f"SyntaxError: {e.msg}"})
            continue
        raise SystemExit(f"expected a syntax error for {src!r}")
    return out


def main():
    extract_smollm2()
    data = {
        "generator": "scripts/make_chat_template_references.py",
        "transformers_render": "transformers.utils.chat_template_utils.render_jinja_template",
        "templates": TEMPLATES,
        "cases": build_cases(),
        "features": build_features(),
        "syntax_errors": build_syntax_errors(),
    }
    path = os.path.join(FIX, "cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum(1 for c in data["cases"] if "error" in c)
    print(f"wrote {path}: {len(data['cases'])} cases ({n_err} errors), {len(data['features'])} features, "
          f"{len(data['syntax_errors'])} syntax errors", file=sys.stderr)


if __name__ == "__main__":
    main()
