#!/usr/bin/env python3
"""Tokenizer fixtures and reference ids for Tests/TokenizationTests.

Deterministic. Run with /opt/refvenv/bin/python from the repository root:

    scripts/make_tokenizer_references.py tiny     # tiny-llama3 / tiny-qwen2 tokenizer.json (+ config)
    scripts/make_tokenizer_references.py refs     # Tests/Fixtures/tokenizer/*.json reference ids
    scripts/make_tokenizer_references.py          # both

The tiny tokenizers are byte-level BPE models trained here (HF `tokenizers`) on text
written in this script, with the exact pre-tokenizer / post-processor configuration of
Llama-3 and Qwen2, so that tests can exercise both pipelines without the real 128k/151k
vocabularies.
"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import AddedToken

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "Tests", "Fixtures")

# Pre-tokenizer patterns exactly as in the models' tokenizer.json files.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Meta-Llama-3-8B-Instruct's chat template.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# Qwen2.5-Instruct's chat template, as the JSON string value of its tokenizer_config.json.
QWEN25_CHAT_TEMPLATE = json.loads(r'''"{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"''')


# ---------------------------------------------------------------------------------------------
# Training text, written for this project.

ENGLISH = [
    "The patient is a 45-year-old man who presents with chest pain that started two hours ago.",
    "He describes the pain as pressure-like, radiating to the left arm, and it doesn't improve with rest.",
    "Blood pressure was 150/95 mmHg, heart rate 102 beats per minute, and oxygen saturation 96%.",
    "An electrocardiogram showed ST-segment elevation in leads II, III and aVF.",
    "We're going to start aspirin, nitroglycerin and heparin while the cath lab is prepared.",
    "She'll need a follow-up visit in 3 weeks; they've already scheduled it.",
    "I'm not sure what you'd prefer, but I'll write the summary in plain English.",
    "Fine-tuning a small language model with LoRA changes only a few million parameters.",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!",
    "Training loss fell from 2.31 to 1.87 after 1,000 steps with a learning rate of 2e-4.",
    "Questions? Answers. Reasoning: step by step, then the final answer.",
    "Diabetes mellitus type 2 is managed with diet, exercise, metformin and, when needed, insulin.",
    "Symptoms include fever, cough, fatigue, shortness of breath and loss of taste or smell.",
    "Take one tablet twice daily after meals for seven days; do not exceed the stated dose.",
    "The assistant should answer politely, accurately, and concisely.",
    "It's 10:30 a.m. on Monday, March 3rd, 2025 and the clinic opens at 8:00.",
    "Hello, world! How are you doing today? I'm doing well, thanks for asking.",
    "Café, naïve, résumé, jalapeño, Zürich, São Paulo, Kraków and Ångström are spelled with accents.",
]

CHINESE = [
    "患者，男，45岁，因胸痛两小时入院。",
    "既往有高血压病史十年，平时服用硝苯地平控制血压。",
    "查体：体温36.8℃，脉搏102次/分，呼吸20次/分，血压150/95mmHg。",
    "心电图提示下壁导联ST段抬高，考虑急性心肌梗死。",
    "建议立即给予阿司匹林、氯吡格雷口服，并尽快行冠状动脉造影。",
    "糖尿病患者应注意控制饮食，适当运动，定期监测血糖。",
    "感冒的常见症状包括发热、咳嗽、流涕、咽痛和全身乏力。",
    "如果症状持续加重，请及时到医院就诊，不要自行用药。",
    "孕妇在服用任何药物之前，都应该先咨询医生的意见。",
    "慢性胃炎的治疗以保护胃黏膜、根除幽门螺杆菌为主。",
    "小儿腹泻时要注意补充水分和电解质，防止脱水。",
    "请问医生，我最近总是失眠，晚上很难入睡，该怎么办？",
    "您好！根据您的描述，可能是焦虑引起的睡眠障碍。",
    "肺炎的诊断需要结合临床表现、胸部X线片和血常规检查。",
    "用法用量：口服，一次2片，一日3次，饭后服用。",
    "高血压患者每日食盐摄入量应少于6克。",
    "《中华人民共和国药典》规定了药品的质量标准。",
    "嗯，用户问的是头痛的原因，我需要先考虑常见的病因，比如紧张性头痛、偏头痛。",
]

CODE = [
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < count; ++i) {\n\tsum += values[i] * weights[i];\n}\n",
    "let tokens = tokenizer.encode(\"Hello, world!\")\nprint(tokens.count)\n",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\nprint(x.shape)  # (3, 4)\n",
    "SELECT name, age FROM patients WHERE age >= 18 ORDER BY name;\n",
    "{\"role\": \"user\", \"content\": \"What is 2 + 2?\"}\n",
    "if err != nil {\n\t\treturn fmt.Errorf(\"open %s: %w\", path, err)\n\t}\n",
    "<html><body><p class=\"note\">Hi &amp; bye</p></body></html>\n",
    "$ swift build -c release && ./.build/release/tunelab --help\n",
    "x = [i ** 2 for i in range(10) if i % 2 == 0]\n",
]

NUMBERS = [
    "0 1 2 3 4 5 6 7 8 9 10 11 12 100 256 1024 4096 65536 1000000",
    "3.14159 2.71828 1.41421 0.5 -7 +42 1e-5 6.022e23",
    "Phone: +1 (555) 123-4567, ID 20240315-0042, total ¥1,280.50 or $99.99.",
    "１２３４５ full-width digits and ٣٤٥ Arabic-Indic digits and ⅣⅫ roman numerals",
]

EMOJI = [
    "Great job! 👍😀🎉 Let's celebrate 🥳🍰",
    "Family: 👨‍👩‍👧‍👦 flags: 🇨🇳🇺🇸🇫🇷 skin tones: 👋🏻👋🏿",
    "Weather ☀️🌧️❄️ and hearts ❤️💙💚",
    "Keycaps 1️⃣2️⃣3️⃣ and a technologist 👩🏽‍💻",
]

OTHER = [
    "Привет, как дела? Это тест токенизатора.",
    "こんにちは、世界。カタカナとひらがなの文章です。",
    "안녕하세요, 만나서 반갑습니다.",
    "مرحبا بالعالم، هذا اختبار.",
    "Γειά σου Κόσμε! Αυτό είναι ένα τεστ.",
    "नमस्ते दुनिया, यह एक परीक्षण है।",
    "「你好」，他说：“今天天气很好！”——真的吗？……是的。",
    "tabs\tand\t\tmultiple   spaces    and\n\nnewlines\r\n\r\nend",
]


def training_corpus():
    # Repeated with small variations so that frequent pairs dominate and training is stable.
    base = ENGLISH + CHINESE + CODE + NUMBERS + EMOJI + OTHER
    out = []
    for rep in range(4):
        for i, s in enumerate(base):
            out.append(s if rep % 2 == 0 else s.lower() + " " + str(i * 37 + rep))
    return out


# ---------------------------------------------------------------------------------------------
# Tiny tokenizers.

TINY_VOCAB = 1500


def train_byte_level(pattern, byte_level_trim_offsets, normalizer):
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=byte_level_trim_offsets, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(training_corpus(), trainer=trainer)
    return tok


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def make_tiny_llama3():
    tok = train_byte_level(LLAMA3_PATTERN, True, None)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    bos = tok.token_to_id("<|begin_of_text|>")
    # Llama-3: ByteLevel post-processor followed by TemplateProcessing that prepends BOS.
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A:0 <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    out = os.path.join(FIX, "tiny-llama3")
    tj = json.loads(tok.to_str())
    tj["model"]["ignore_merges"] = True  # as in Llama-3's tokenizer.json
    write_json(os.path.join(out, "tokenizer.json"), tj)
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "clean_up_tokenization_spaces": True,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": {
            str(tok.token_to_id(s)): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                      "single_word": False, "special": True} for s in specials},
        "chat_template": LLAMA3_CHAT_TEMPLATE,
    })
    return tok


def make_tiny_qwen2():
    tok = train_byte_level(QWEN2_PATTERN, False, normalizers.NFC())
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in ["<think>", "</think>"]])
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    out = os.path.join(FIX, "tiny-qwen2")
    write_json(os.path.join(out, "tokenizer.json"), json.loads(tok.to_str()))
    added = {}
    for s in specials + ["<think>", "</think>"]:
        added[str(tok.token_to_id(s))] = {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": s in specials}
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": QWEN25_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    })
    return tok


def make_tiny():
    l3 = make_tiny_llama3()
    q2 = make_tiny_qwen2()
    print(f"tiny-llama3: vocab size {l3.get_vocab_size(with_added_tokens=True)} "
          f"(BPE {l3.get_vocab_size(with_added_tokens=False)}), "
          f"bos {l3.token_to_id('<|begin_of_text|>')}, eot {l3.token_to_id('<|eot_id|>')}")
    print(f"tiny-qwen2:  vocab size {q2.get_vocab_size(with_added_tokens=True)} "
          f"(BPE {q2.get_vocab_size(with_added_tokens=False)}), "
          f"<|endoftext|> {q2.token_to_id('<|endoftext|>')}, <|im_end|> {q2.token_to_id('<|im_end|>')}")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("tiny", "all"):
        make_tiny()
    if what in ("refs", "all"):
        make_refs()
