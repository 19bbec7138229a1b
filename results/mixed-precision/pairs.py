# Paired plan-vs-uniform PPL differences with 95% percentile-bootstrap CIs over the 16 windows
# (same windows on both sides; 2000 resamples; numpy seed 0). Run from the results folder.
import json, glob, numpy as np
cells = {json.load(open(f))['id']: json.load(open(f)) for f in sorted(glob.glob('cells/*.json'))}
def windows(cid, ds):
    e = next(e for e in cells[cid]['evals'] if e['dataset'] == ds)
    return np.array(e['window_nll'])
rng = np.random.default_rng(0)
plans = sorted([c for c in cells if 'Wplan' in c], key=lambda c: cells[c]['plan']['budget'])
uniform = [c for c in cells if c.startswith('rtn_W') and 'plan' not in c]
for ds in ['wikitext2', 'ptb']:
    idx = rng.integers(0, 16, size=(2000, 16))
    for p in plans:
        for u in uniform:
            a, b = windows(p, ds), windows(u, ds)
            d = np.exp(a[idx].mean(1)) - np.exp(b[idx].mean(1))
            lo, hi = np.percentile(d, [2.5, 97.5])
            print(f"{ds:9s} {p.split('_')[1]:9s} - {u.split('_')[1]:12s} {np.exp(a.mean()) - np.exp(b.mean()):+7.2f} [{lo:+.2f}, {hi:+.2f}]  windows won {int((a < b).sum())}/16")
