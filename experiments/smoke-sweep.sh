# Sweep checks for Tests/smoke.sh (sourced there: uses its $MXQ, $tmp, check_exit, contains, ok, bad).
# Expected values are derived by hand (see comments), not produced by mxq.
# --- experiment sweep: experiments/smoke.json (3 cells x 2 datasets) -------------
check_exit "sweep smoke manifest" 0 "$MXQ" sweep experiments/smoke.json --out "$tmp/sweep"
contains "sweep prints the accuracy table" "| rtn | "
# hand-derived: 3 cells x 2 datasets; W=MXINT4 block 32 stores 4 + 8/32 = 4.25 bits per weight;
# fp32 delta is 0; ppl = exp(nll); SmolLM2-135M has 30 blocks x 7 linears = 210 quantized linears,
# one layers.csv row per linear and stage (rtn: 1 stage, sq: smoothquant + implicit rtn = 2).
if python3 - "$tmp/sweep" <<'PY'
import csv, math, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/summary.csv")))
assert len(rows) == 6, len(rows)
assert [r["cell_id"] for r in rows[::2]] == ["fp32", "rtn_Wmxint4_Amxint8_b32_floor_even_s0", "sq_Wmxint4_Amxint8_b32_floor_even_s0"]
for r in rows:
    assert abs(math.exp(float(r["nll"])) - float(r["ppl"])) <= 1e-9 * float(r["ppl"])
    assert int(r["tokens"]) == 2 * 127
    assert float(r["weight_bits"]) == (32 if r["recipe"] == "fp32" else 4.25)
    assert abs(float(r["delta_ppl"]) - (float(r["ppl"]) - float(r["fp32_ppl"]))) < 1e-9
    assert len(r["model_sha256"]) == 64 and len(r["manifest_sha256"]) == 64
    # W4A8 MXINT block 32: every quantized linear on the packed integer kernels (eval.path auto)
    assert r["path"] == ("fp32" if r["recipe"] == "fp32" else "packed-int"), r["path"]
assert all(float(r["delta_ppl"]) == 0 for r in rows if r["recipe"] == "fp32")
layers = list(csv.DictReader(open(d + "/layers.csv")))
per = {}
for l in layers: per[l["cell_id"]] = per.get(l["cell_id"], 0) + 1
assert per == {"rtn_Wmxint4_Amxint8_b32_floor_even_s0": 210, "sq_Wmxint4_Amxint8_b32_floor_even_s0": 420}, per
# held-out inputs (a sample of PTB train disjoint from the calibration windows) fill their columns
assert all(l["heldout_output_sqnr_db"] not in ("", "nan") and float(l["heldout_output_mse"]) >= 0 for l in layers)
PY
then ok "sweep summary/layers tables"; else bad "sweep summary/layers tables"; fi
check_exit "report" 0 "$MXQ" report "$tmp/sweep"
contains "report table" "| fp32 |"
contains "report names the evaluation paths" '- evaluation path: `fp32` (1 cell), `packed-int` (2 cells)'
check_exit "report --first-windows 2" 0 "$MXQ" report "$tmp/sweep" --first-windows 2
# the smoke sweep has exactly 2 windows per dataset: cutting to 2 must give the same tables
[ "$(grep '^|' "$tmp/sweep/report.md")" = "$(grep '^|' "$tmp/sweep/report-first-2.md")" ] && ok "first-2-window tables equal the full ones" || bad "first-2-window tables equal the full ones" "$(diff <(grep '^|' "$tmp/sweep/report.md") <(grep '^|' "$tmp/sweep/report-first-2.md"))"
check_exit "report --first-windows 3 (only 2 windows) is a usage error" 2 "$MXQ" report "$tmp/sweep" --first-windows 3
check_exit "layers" 0 "$MXQ" layers "$tmp/sweep" --cell sq_Wmxint4_Amxint8_b32_floor_even_s0
[ -s "$tmp/sweep/layers/sq_Wmxint4_Amxint8_b32_floor_even_s0.svg" ] && [ -s "$tmp/sweep/report.html" ] && ok "layers svg + html" || bad "layers svg + html"
echo '{"eval": {"datasets": ["c4"]}, "grid": {"weights": ["mxint4"], "acts": ["none"], "recipes": ["rtn"]}}' > "$tmp/bad.json"
check_exit "bad manifest is exit 2" 2 "$MXQ" sweep "$tmp/bad.json" --dry-run
grep -qF 'eval.datasets[0]: got "c4"' "$tmp/err" && ok "manifest error names its path" || bad "manifest error names its path" "$(cat "$tmp/err")"
# --- one cell two ways: mxq eval flags vs the one-cell manifest they print, run as a sweep ---------
# Issue 13: the same cell (SQ + AWQ + GPTQ, a per-layer override, stochastic rounding) gives
# bit-identical NLLs and layer records through `mxq eval` and `mxq sweep` (shared code path).
CELL=(--dataset wikitext2,ptb --windows 1 --ctx 128 --weights mxint4 --acts mxint8 --rounding stochastic --rounding-seed 3
      --recipe 'sq,awq(grid=2),gptq' --override '*.down_proj=mxint8' --calib-samples 2 --calib-len 64)
check_exit "eval one cell --print-cell" 0 "$MXQ" eval "${CELL[@]}" --print-cell
cp "$tmp/out" "$tmp/cell.json"
check_exit "eval one cell --json --layers" 0 "$MXQ" eval "${CELL[@]}" --json --layers "$tmp/eval-layers.csv"
cp "$tmp/out" "$tmp/eval.jsonl"
check_exit "sweep of the printed cell" 0 "$MXQ" sweep "$tmp/cell.json" --out "$tmp/cell"
if python3 - "$tmp" <<'PY'
import csv, json, sys
t = sys.argv[1]
ev = [json.loads(l) for l in open(t + "/eval.jsonl")]
rows = list(csv.DictReader(open(t + "/cell/summary.csv")))
assert [e["dataset"] for e in ev] == [r["dataset"] for r in rows] == ["wikitext2", "ptb"], (ev, rows)
for e, r in zip(ev, rows):
    assert e["cell_id"] == r["cell_id"], (e["cell_id"], r["cell_id"])
    assert float(e["nll"]) == float(r["nll"]), (e["nll"], r["nll"])
rec = json.load(open(t + "/cell/cells/0000.json"))
assert [e["window_nll"] for e in ev] == [x["window_nll"] for x in rec["evals"]]
def untimed(p):
    rows = list(csv.DictReader(open(p)))
    for r in rows: r.pop("seconds")
    return rows
a, b = untimed(t + "/eval-layers.csv"), untimed(t + "/cell/layers.csv")
assert len(a) == 210 * 3 and a == b, (len(a), len(b))
PY
then ok "eval and one-cell sweep: identical NLLs and layer records"; else bad "eval and one-cell sweep: identical NLLs and layer records"; fi
check_exit "sweep --dry-run --print-eval" 0 "$MXQ" sweep "$tmp/cell.json" --dry-run --print-eval
contains "print-eval gives the eval command" "mxq eval --dataset wikitext2,ptb --windows 1 --ctx 128 --weights mxint4"
