#!/usr/bin/env bash
# End-to-end checks of the release binary on the shipped model (run by `make smoke`,
# part of `make test`). Expected values are derived by hand from the MX contract or
# given by the issues (independent implementations), never produced by mxq itself.
set -uo pipefail
MXQ=${MXQ:-.build/release/mxq}
pass=0; fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok()   { pass=$((pass+1)); echo "smoke: ok   $1"; }
bad()  { fail=$((fail+1)); echo "smoke: FAIL $1"; [ -n "${2:-}" ] && echo "$2" | head -20; }

# check NAME EXPECTED_EXIT CMD...: runs CMD, stdout to $tmp/out, stderr to $tmp/err.
check_exit() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else bad "$name (exit $rc, want $want)" "$(cat "$tmp/err")"; fi
}
# contains NAME STRING: the last command's stdout contains STRING.
# jcheck NAME PYEXPR: the last command's stdout is JSON `d` for which PYEXPR is true.
jcheck() {
    if python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if ($2) else 1)" 2>>"$tmp/err"; then ok "$1"
    else bad "$1 (want $2)" "$(head -c 2000 "$tmp/out")"; fi
}
contains() { if grep -qF -- "$2" "$tmp/out"; then ok "$1"; else bad "$1 (missing: $2)" "$(head -c 2000 "$tmp/out")"; fi; }

# --- CLI basics ------------------------------------------------------------
check_exit "help" 0 "$MXQ" --help
check_exit "formats table" 0 "$MXQ" formats
for f in mxint8 mxint4 mxfp8_e4m3 mxfp8_e5m2 mxfp6_e3m2 mxfp6_e2m3 mxfp4_e2m1; do contains "formats lists $f" "$f"; done

# MXFP4, B=32, [1 2 3]: amax 3 -> E = floor(log2 3) - 2 = -1 (byte 126); v/X = 2, 4, 6
# -> E2M1 codes 0b0100, 0b0110, 0b0111; packed low nibble first: 64 07 then 14 zero bytes.
echo "1 2 3" | check_exit "encode mxfp4" 0 "$MXQ" encode --format mxfp4
jcheck "encode mxfp4 fields" 'd["format"] == "mxfp4_e2m1" and d["block"] == 32'
jcheck "encode mxfp4 scale" 'd["scales"] == [126]'
jcheck "encode mxfp4 codes" 'd["codes"] == [4, 6, 7]'
jcheck "encode mxfp4 packed" 'd["packed"] == "6407" + "00" * 14'
jcheck "encode mxfp4 decoded" 'd["decoded"] == ["0x3f800000", "0x40000000", "0x40400000"]'
# MXINT8, B=32, [0x3f800000 -0.5]: amax 1 -> E = 0 - 0 = 0 (byte 127); k = 1*64 = 64, -0.5*64 = -32 (0xe0 = 224).
echo "0x3f800000 -0.5" | check_exit "encode mxint8 hex input" 0 "$MXQ" encode --format mxint8
jcheck "encode mxint8 codes" 'd["codes"] == [64, 224] and d["scales"] == [127]'

echo "1 2" | check_exit "unknown format is exit 2" 2 "$MXQ" encode --format mxfp5
echo "1 x" | check_exit "bad number is exit 2" 2 "$MXQ" encode --format mxint8
echo "1 2" | check_exit "odd block is exit 2" 2 "$MXQ" encode --format mxint8 --block 31
echo ""    | check_exit "empty input is exit 2" 2 "$MXQ" encode --format mxint8

# --- Tokenizer (counts given by issue 5, from independent implementations) --
check_exit "tokenize wikitext2" 0 "$MXQ" tokenize --dataset wikitext2 --count
contains "wikitext2 has 304978 tokens (smollm pre-tokenizer)" "304978"
check_exit "tokenize wikitext2 gpt2" 0 "$MXQ" tokenize --dataset wikitext2 --pre gpt2 --count
contains "wikitext2 has 304986 tokens (gpt2 pre-tokenizer)" "304986"

# --- Real tokenizer files (installed by make setup) against reference-library ids ----
# Expected token counts and SHA-256 of the ids (decimal lines, as mxq tokenize prints them)
# come from Hugging Face tokenizers / sentencepiece (Tests/TokenizationTests/Fixtures/make_fixtures.py).
for fx in llama3 mistral-v1-sentencepiece; do
    fxfile=Tests/TokenizationTests/Fixtures/$fx.json
    model=$(python3 -c "import json; print(json.load(open('$fxfile'))['file'])")
    for ds in wikitext2 ptb; do
        want=$(python3 -c "import json; print(json.load(open('$fxfile'))['$ds']['sha256'])")
        if "$MXQ" tokenize --model "$model" --dataset $ds >"$tmp/ids" 2>"$tmp/err"; then
            got=$(sha256sum <"$tmp/ids" | cut -d' ' -f1)
            if [ "$got" = "$want" ]; then ok "tokenize $fx $ds ids = reference ($(wc -l <"$tmp/ids") tokens)"
            else bad "tokenize $fx $ds ids differ from the reference" "$(cat "$tmp/err")"; fi
        else bad "tokenize $fx $ds (exit $?)" "$(cat "$tmp/err")"; fi
    done
done
# Qwen2's NFC normalizer and Split pattern on the Llama-3 vocabulary (the file edited with
# the standard json module; the reference ids are in the fixture).
python3 -c "
import json; fx = json.load(open('Tests/TokenizationTests/Fixtures/llama3-qwen2-style.json'))
j = json.load(open(fx['file'], encoding='utf-8')); j['normalizer'] = fx['normalizer']; j['pre_tokenizer'] = fx['pre_tokenizer']
json.dump(j, open('$tmp/qwen2-style.json', 'w', encoding='utf-8'), ensure_ascii=False)"
for ds in wikitext2 ptb; do
    want=$(python3 -c "import json; print(json.load(open('Tests/TokenizationTests/Fixtures/llama3-qwen2-style.json'))['$ds']['sha256'])")
    got=$("$MXQ" tokenize --model "$tmp/qwen2-style.json" --dataset $ds 2>"$tmp/err" | sha256sum | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then ok "tokenize llama3-qwen2-style $ds ids = reference"
    else bad "tokenize llama3-qwen2-style $ds ids differ from the reference" "$(cat "$tmp/err")"; fi
done
check_exit "tokenize a folder with tokenizer.model only" 0 bash -c "d=\$(mktemp -d) && cp .cache/pip/mistral_common/data/tokenizer.model.v1 \$d/tokenizer.model && echo 'Hello world' | \"$MXQ\" tokenize --model \$d; rc=\$?; rm -rf \$d; exit \$rc"
# sentencepiece: "Hello world\n" -> ▁Hello ▁world <0x0A>
if [ "$(tr '\n' ' ' <"$tmp/out")" = "22557 1526 13 " ]; then ok "tokenize folder: 'Hello world' ids"
else bad "tokenize folder: 'Hello world' ids (want 22557 1526 13)" "$(cat "$tmp/out")"; fi

# --- Forward pass and perplexity on the real model ---------------------------
# The full-text acceptance value (PPL 21.631 on all 148 windows) takes minutes; here one
# window checks that the model runs and gives a sane perplexity (well below the
# vocabulary-uniform 49152 and far from a broken model's hundreds).
check_exit "eval fp32 1 window" 0 "$MXQ" eval --dataset wikitext2 --windows 1 --json
jcheck "eval fp32 json" 'd["tokens"] == 2047 and d["windows"] == 1 and 5 < d["ppl"] < 40'
check_exit "eval W4A8 RTN 1 window" 0 "$MXQ" eval --dataset wikitext2 --windows 1 --weights mxint4 --acts mxint8 --json
jcheck "eval W4A8 json" 'd["tokens"] == 2047 and 5 < d["ppl"] < 80'
check_exit "eval missing model is exit 2" 2 "$MXQ" eval --model /nonexistent.gguf --dataset wikitext2 --windows 1
# AWQ search sizes are validated before the model loads (exit 2, usage error).
check_exit "eval --awq-search-tokens 0 is exit 2" 2 "$MXQ" eval --dataset wikitext2 --weights mxint4 --recipe awq --awq-search-tokens 0
check_exit "eval --no-true-sequential without gptq is exit 2" 2 "$MXQ" eval --dataset wikitext2 --weights mxint4 --recipe awq --no-true-sequential
check_exit "eval --awq-clip-tokens without awq is exit 2" 2 "$MXQ" eval --dataset wikitext2 --weights mxint4 --recipe gptq --awq-clip-tokens 64

# --- Sweeps, reports, validation (checks kept beside the manifests) ---------
source experiments/smoke-sweep.sh

echo "smoke: $pass passed, $fail failed"
[ "$fail" = 0 ]
