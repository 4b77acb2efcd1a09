"""Reference values for the notebook's TOML value parser: Python's tomllib (TOML 1.0) parses
Tests/Fixtures/notebook/values.toml and each snippet of invalid.txt; writes values.json
(typed values) and invalid.json (which snippets tomllib rejects). Deterministic."""
import json, math, pathlib, tomllib

root = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "notebook"

def typed(v):
    if isinstance(v, bool): return {"type": "bool", "value": v}
    if isinstance(v, int): return {"type": "int", "value": str(v)}
    if isinstance(v, float): return {"type": "float", "value": repr(v)}
    if isinstance(v, str): return {"type": "string", "value": v}
    if isinstance(v, list): return {"type": "array", "value": [typed(x) for x in v]}
    if isinstance(v, dict): return {"type": "table", "value": {k: typed(x) for k, x in v.items()}}
    raise TypeError(type(v))

doc = tomllib.loads((root / "values.toml").read_text(encoding="utf-8"))
(root / "values.json").write_text(json.dumps({k: typed(v) for k, v in doc.items()}, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")

snippets = [s for s in (root / "invalid.txt").read_text(encoding="utf-8").split("\n") if s and not s.startswith("//")]
out = []
for s in snippets:
    try:
        tomllib.loads("x = " + s)
        ok = True
    except tomllib.TOMLDecodeError:
        ok = False
    out.append({"value": s, "valid": ok})
(root / "invalid.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
