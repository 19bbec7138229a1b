#!/usr/bin/env bash
# Opens RESULTS_DIR/report.html in headless Chromium (installed from Debian when missing) and
# checks that it renders: a screenshot is written (not a blank page), the browser logs no
# console message (the report needs no JavaScript at all), the page loads nothing from
# outside, and the charts exist in the rendered DOM: one PPL chart per dataset with CI error
# bars, and the per-layer SQNR heat maps.
# usage: Tests/report-browser.sh RESULTS_DIR SCREENSHOT.png DATASETS HEATMAPS DIFF_HEATMAPS
# (the last three: expected numbers of PPL charts, SQNR heat maps and Δ-vs-RTN heat maps)
set -uo pipefail
dir=$1; png=$2; want_ppl=$3; want_heat=$4; want_diff=$5
fail() { echo "report-browser: $*"; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
    echo "report-browser: installing chromium (Debian package)"
    t0=$(date +%s)
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || fail "could not install chromium (apt-get install chromium)"
    echo "report-browser: chromium installed in $(( $(date +%s) - t0 )) s"
fi
[ -s "$dir/report.html" ] || fail "no $dir/report.html"
url="file://$(cd "$dir" && pwd)/report.html"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a throwaway profile; no sandbox (tests run as root in containers); logs go to stderr
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --user-data-dir="$work/profile"
       --enable-logging=stderr --v=0)

timeout 120 chromium "${flags[@]}" --window-size=1400,3000 --screenshot="$png" "$url" >"$work/shot.out" 2>"$work/shot.err" \
    || fail "chromium --screenshot failed: $(tail -5 "$work/shot.err")"
[ -s "$png" ] || fail "no screenshot written"
[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$png is not a PNG"
# a blank 1400x3000 page compresses to a few KB; the charts make it far larger
size=$(stat -c %s "$png")
[ "$size" -gt 60000 ] || fail "screenshot is only $size bytes: blank page?"

timeout 120 chromium "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/dom.err" \
    || fail "chromium --dump-dom failed: $(tail -5 "$work/dom.err")"
if grep -h ":CONSOLE" "$work/shot.err" "$work/dom.err"; then fail "the page logged console messages (above)"; fi
if grep -hE "net::ERR|Failed to load resource" "$work/shot.err" "$work/dom.err"; then fail "the page tried to load a resource (above)"; fi
grep -qiE "<script|<link| src=" "$work/dom.html" && fail "the report has scripts, links or external sources"
count() { grep -o "$1" "$work/dom.html" | wc -l; }
[ "$(count 'class="mxq-chart ppl-chart"')" = "$want_ppl" ] || fail "PPL charts: $(count 'class="mxq-chart ppl-chart"'), want $want_ppl"
[ "$(count 'class="ppl-errbar"')" -ge "$want_ppl" ] || fail "no CI error bars in the PPL charts"
[ "$(count 'class="mxq-chart sqnr-heatmap"')" = "$want_heat" ] || fail "SQNR heat maps: $(count 'class="mxq-chart sqnr-heatmap"'), want $want_heat"
[ "$(count 'class="mxq-chart sqnr-heatmap diff"')" = "$want_diff" ] || fail "Δ-vs-RTN heat maps: $(count 'class="mxq-chart sqnr-heatmap diff"'), want $want_diff"
[ "$(count 'class="heat-cell"')" -gt 0 ] || fail "heat maps without cells"
echo "report-browser: ok ($want_ppl PPL charts, $want_heat SQNR + $want_diff Δ heat maps; screenshot $size bytes)"
