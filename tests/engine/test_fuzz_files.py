"""Fuzzing: no file makes `layerloom validate` crash or hang, and every valid graph exports code that works.

(a) The example graphs, mutated at random — values replaced by wild JSON (nesting past any limit,
integers of thousands of digits, 1e400, lone surrogates, control characters, keywords as ids), keys
deleted or duplicated, nodes renamed — go through `engine.cli.main(["validate", FILE])` writing to
a strictly encoding stdout, as a terminal does: it must exit 0, 1 or 2 within `SECONDS_PER_FILE`
and print no traceback. Inputs of absurd but storable sizes get the same treatment.

(b) Random valid graphs — chains of the registry's layers with random params, the validator
choosing what fits, under odd or forbidden ids and graph names that the document either refuses
or must carry through — compile, and the exported `.py` loads its own weights and computes what
the compiled module does; a few also go through the ONNX exporter.

The examples here are few so the file runs in seconds; `python bench/fuzz.py` runs these same
checks over many more and prints the counts.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import signal
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import nodes
from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import DocumentError, LayerloomError
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.export.weights import inference_graph
from engine.fileformat import dumps
from engine.validate import TOTAL_LOSS, validate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))
PARAM_NAMES = sorted({p.name for s in nodes.all_specs() for p in s.params})
SECONDS_PER_FILE = 20  # a validate slower than this counts as a hang

# -- (a) mutated files -----------------------------------------------------------------------------


class Raw(str):
    """JSON text put into the file as is: what json.dumps cannot write (1e400, 5000 digits, deep nesting)."""


def _deep(opening: str, closing: str, depth: int) -> Raw:
    return Raw(opening * depth + "0" + closing * depth)


raw_values = st.one_of(
    st.builds(_deep, st.just("["), st.just("]"), st.sampled_from([31, 33, 37, 200, 990, 1100, 100_000])),
    st.builds(_deep, st.just('{"a": '), st.just("}"), st.sampled_from([33, 40, 600, 5000])),
    st.builds(lambda sign, digits: Raw(sign + "9" * digits), st.sampled_from(["", "-"]),
              st.sampled_from([17, 20, 300, 308, 309, 310, 400, 4300, 4301, 6000])),
    st.sampled_from([Raw(t) for t in ("1e400", "-1e400", "1e308", "5e-324", "-0.0", "NaN", "Infinity", "-Infinity")]),
)
NASTY_TEXT = ["\udce9", "a\ud800b", "\x00", "x\x1b[2Jy", "\x7f", "\u2028", "NaN", "Infinity", "-inf", "1e999",
              "class", "None", "True", "__x", "__init__", "fc1\n", "self", "forward", "training", "to", "match",
              "_", "input1.out", "fc1.in", ".", "ü", "名前", "", "   ", '"""', "\\", "a" * 300]
NASTY_IDS = ["\udce9", "fc\udce9", "class", "None", "True", "__x", "__init__", "fc1\n", " fc1", "_", "_x", "match",
             "case", "type", "self", "forward", "training", "to", "cuda", "state_dict", "load", "torch", "nn",
             "input", "print", "loss", "x" * 300, "é", "fc1", "input1", "a1", "1a", "a.b", ""]
# Storable but extreme numbers, alone or as shapes: they reach shape inference and the stats.
odd_numbers = st.sampled_from([0, -1, 1, 7, 2**31, 2**63, 2**64, 10**12, 10**18, 10**300, 1e300, -1e300, 1e-300, 0.5])
odd_shapes = st.lists(st.one_of(odd_numbers, st.integers(1, 9)), max_size=6)
text_values = st.one_of(st.text(max_size=8), st.sampled_from(NASTY_TEXT))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
              text_values),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text_values, children, max_size=3)),
    max_leaves=8,
)
wild_values = st.one_of(json_values, raw_values, odd_numbers, odd_shapes)
node_ids = st.one_of(st.sampled_from(NASTY_IDS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True))


def json_paths(value, prefix=()):
    """The path (keys and indices) of every value in a parsed JSON tree, the root's `()` first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_paths(item, (*prefix, i))


def _at(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _mutate(tree, data):
    """One random edit of the parsed file (in place); returns the (possibly new) root.

    Half the edits aim at nodes — a param, a position, an id, a wire's port — so most files get past
    the envelope into the node reader, validation and the printed report."""
    nodes_, edges = (_dicts_in(tree, key) for key in ("nodes", "edges"))
    how = data.draw(st.sampled_from(["param", "param", "rename", "endpoint", "position", "replace", "replace",
                                     "delete", "duplicate"]))
    if how == "param" and nodes_ and isinstance(params := (node := _pick(data, nodes_)).get("params"), dict):
        name = data.draw(st.sampled_from(_own_params(node) or PARAM_NAMES) | st.sampled_from([*PARAM_NAMES, "bogus"]))
        params[name] = data.draw(wild_values)
    elif how == "rename" and nodes_:
        _rename(_pick(data, nodes_), data.draw(node_ids), edges)
    elif how == "endpoint" and edges and isinstance((edge := _pick(data, edges)).get("to"), str):
        edge["to"] = f"{edge['to'].partition('.')[0]}.{data.draw(text_values)}"
    elif how == "position" and nodes_:
        _pick(data, nodes_)["position"] = [data.draw(wild_values), data.draw(wild_values)]
    else:
        return _edit_anywhere(tree, how, data)
    return tree


def _own_params(node: dict) -> list[str]:
    spec = nodes.get_spec(node["type"]) if isinstance(node.get("type"), str) else None
    return [p.name for p in spec.params] if spec else []


def _dicts_in(tree, key: str) -> list[dict]:
    items = tree.get(key) if isinstance(tree, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _rename(node: dict, new_id, edges: list[dict]) -> None:
    """Give `node` another id and carry its wires along, so the file still hangs together."""
    old, node["id"] = node.get("id"), new_id
    for edge in edges:
        for end in ("from", "to"):
            if isinstance(edge.get(end), str) and edge[end].partition(".")[0] == old:
                edge[end] = f"{new_id}.{edge[end].partition('.')[2]}"


def _edit_anywhere(tree, how: str, data):
    """Replace, delete or duplicate the value at a random place in the tree."""
    path = _pick(data, list(json_paths(tree)))
    if not path:
        return data.draw(wild_values) if how == "replace" else tree
    parent, key = _at(tree, path[:-1]), path[-1]
    if how == "delete":
        del parent[key]
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif how == "duplicate":
        parent[_pick(data, list(parent))] = copy.deepcopy(parent[key])
    else:
        parent[key] = data.draw(wild_values)
    return tree


def _pick(data, items: list):
    """A drawn item, drawn by index: sampled_from would render the whole list for hypothesis' reports."""
    return items[data.draw(st.integers(0, len(items) - 1))]


def _dumps(tree) -> str:
    """JSON text of `tree` with each Raw value spliced in verbatim."""
    raws: list[Raw] = []

    def placeholders(value):
        if isinstance(value, Raw):
            raws.append(value)
            return f"RAW-{len(raws) - 1}-RAW"
        if isinstance(value, dict):
            return {k: placeholders(v) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholders(v) for v in value]
        return value

    text = json.dumps(placeholders(tree))  # ensure_ascii: surrogates travel as \udce9 escapes
    for i, raw in enumerate(raws):
        text = text.replace(f'"RAW-{i}-RAW"', raw, 1)
    return text


@st.composite
def mutated_files(draw) -> str:
    """The text of an example graph after one to three random edits."""
    tree = json.loads(draw(st.sampled_from(EXAMPLES)).read_text())
    data = _Drawer(draw)
    for _ in range(draw(st.integers(1, 3))):
        tree = _mutate(tree, data)
    return _dumps(tree)


class _Drawer:
    """`data.draw` for code shared between `st.composite` and `st.data()`."""

    def __init__(self, draw):
        self.draw = draw


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging: SIGALRM raises after `seconds`."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`layerloom ARGV` printing to strict UTF-8 streams, as a terminal's are: (status, stdout, stderr)."""
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(SECONDS_PER_FILE):
        status = main(argv)
    printed = []
    for stream in (out, err):
        stream.flush()
        printed.append(stream.buffer.getvalue().decode("utf-8"))
    return status, printed[0], printed[1]


def check_validate(text: str, folder: Path) -> int:
    """Validate a fuzzed file and check the outcome is one of the three documented ones; returns it."""
    path = folder / "fuzzed.json"
    path.write_text(text, encoding="utf-8")
    status, out, err = run_cli(["validate", str(path)])
    assert status in (0, 1, 2), (status, out, err)
    assert "Traceback" not in out + err
    if status == 2:
        assert err.startswith(f"error: {path}: ") and err.count("\n") == 1, err
    else:
        assert out.splitlines()[-1] == "valid" if status == 0 else out.splitlines()[-1].startswith("invalid: ")
    return status


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_files())
def test_a_mutated_graph_file_exits_0_1_or_2_and_never_crashes(text):
    with tempfile.TemporaryDirectory() as folder:
        check_validate(text, Path(folder))


SIZES = [1, 2, 7, 2**31, 2**62, 2**63, 10**18, 10**150, 10**300]  # a sample dimension: storable, maybe absurd


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.lists(st.sampled_from(SIZES) | st.integers(1, 10**300), min_size=1, max_size=4))
def test_an_input_of_any_storable_size_validates_without_crashing(example, shape):
    """Sizes past what a tensor holds must be diagnosed, not overflow the stats printed for a valid graph."""
    tree = json.loads(example.read_text())
    for node in tree["nodes"]:
        if node["type"] == "Input":
            node["params"]["shape"] = shape
    with tempfile.TemporaryDirectory() as folder:
        check_validate(json.dumps(tree), Path(folder))


def block_chain(depth: int, places: int, back_to: int | None) -> dict:
    """A graph placing B0, where each B<k> places B<k+1> `places` times in a row (x → inner0 → inner1 → y)
    and the last holds a Linear, or places B<back_to> (a cycle through the whole chain below it)."""
    blocks = []
    for k in range(depth):
        inner = f"B{k + 1}" if k + 1 < depth else None if back_to is None else f"B{back_to}"
        nodes_ = [{"id": "x", "type": "BlockInput"}, {"id": "y", "type": "BlockOutput"}]
        if inner is None:
            nodes_.append({"id": "fc", "type": "Linear", "params": {"out_features": 4}})
            ends = [("fc.in", "fc.out")]
        else:
            nodes_ += [{"id": f"inner{i}", "type": "Block", "params": {"block": inner, "repeat": 1}}
                       for i in range(places)]
            ends = [(f"inner{i}.x", f"inner{i}.y") for i in range(places)]
        sources = ["x.out", *(out for _, out in ends)]
        targets = [*(into for into, _ in ends), "y.in"]
        blocks.append({"name": f"B{k}", "nodes": nodes_,
                       "edges": [{"from": a, "to": b} for a, b in zip(sources, targets, strict=True)]})
    return {"format": "layerloom-graph", "version": 2, "name": "deep", "blocks": blocks,
            "nodes": [{"id": "input1", "type": "Input", "params": {"shape": [4]}},
                      {"id": "b", "type": "Block", "params": {"block": "B0", "repeat": 1}},
                      {"id": "output1", "type": "Output"}],
            "edges": [{"from": "input1.out", "to": "b.x"}, {"from": "b.y", "to": "output1.in"}]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from([1, 2, 7, 63, 64, 65, 70, 490, 1000, 3000]), st.integers(1, 2), st.data())
def test_blocks_nested_to_any_depth_are_refused_past_the_limit_and_never_crash(depth, places, data):
    """Past 64 levels, or containing itself, a file is refused at load (exit 2, naming the chain); within,
    it validates (a chain placing each level twice expands past the size limit: invalid). No recursion."""
    back_to = data.draw(st.none() | st.integers(0, depth - 1))
    tree = block_chain(depth, places, back_to)
    data.draw(st.randoms(use_true_random=False)).shuffle(tree["blocks"])  # the file's order of definitions
    with tempfile.TemporaryDirectory() as folder:
        status = check_validate(json.dumps(tree), Path(folder))
    assert status == (2 if back_to is not None or depth > 64 else 1 if places == 2 and depth > 16 else 0)


# -- (b) random valid graphs -----------------------------------------------------------------------

LAYERS = [s for s in nodes.all_specs() if s.role == "layer"
          and all(p.dtype == "float32" for p in s.inputs if not p.optional)]
ODD_IDS = [  # valid ids that shadow names the generated code uses, or builtins
    "match", "case", "torch", "nn", "load", "Path", "input", "print", "getattr", "operator", "device", "inf", "nan",
    "NoneType", "Model", "LayerloomGraph", "fc1_out", "loss", "x" * 80, "load_file", "super", "id"]
GRAPH_NAMES = ['"""', "a\\b", "it's \"quoted\"", "None", "class", "名前 ü", "two\nlines", "tab\there", "x" * 300,
               "\x00nul", "\udce9", "", "  ", "\x1b[2J"]
graph_names = st.one_of(st.sampled_from(GRAPH_NAMES), st.text(max_size=12))


def _param_value(param, draw):
    if draw(st.integers(0, 9)) < 6:
        return param.default
    low = param.min if param.min is not None else -3
    if param.kind == "int":
        return draw(st.integers(int(low), int(min(param.max if param.max is not None else 8, low + 8))))
    if param.kind == "float":
        return draw(st.floats(max(low, 0.0), min(param.max if param.max is not None else 1.0, 1.0)))
    if param.kind == "bool":
        return draw(st.booleans())
    if param.kind == "choice":
        return draw(st.sampled_from(param.choices))
    return param.default


def _add(doc: GraphDocument, type_id: str, draw, params: dict | None = None) -> str:
    """Add a node, half the time under an odd or forbidden id: the document either refuses the id (and
    the node gets the usual `fc1`, as in the app) or the graph must export under it."""
    wanted = draw(st.sampled_from(ODD_IDS + NASTY_IDS)) if draw(st.booleans()) else None
    if wanted == TOTAL_LOSS and type_id == "Output":  # validation refuses it there (a run's summed loss)
        wanted = None
    try:
        return doc.add_node(type_id, params, node_id=wanted)
    except DocumentError:
        return doc.add_node(type_id, params)


@st.composite
def valid_graphs(draw) -> GraphDocument:
    """A chain (with merges fed twice from one value, and splits) of random layers that validates."""
    doc = GraphDocument()
    with contextlib.suppress(DocumentError):  # a name the document refuses leaves "untitled"
        doc.set_name(draw(graph_names))
    tokens = draw(st.booleans())
    shape = [draw(st.integers(2, 6))] if tokens else draw(st.lists(st.integers(2, 6), min_size=1, max_size=3))
    value = (_add(doc, "Input", draw, {"shape": shape, "dtype": "int64" if tokens else "float32"}), "out")
    if tokens:
        embedding = _add(doc, "Embedding", draw, {"num_embeddings": 5, "embedding_dim": draw(st.integers(2, 8))})
        doc.add_edge(Edge(*value, embedding, "in"))
        value = (embedding, "out")
    for _ in range(draw(st.integers(1, 5))):
        for _attempt in range(6):
            spec = draw(st.sampled_from(LAYERS))
            # a Reshape keeps its batch: a merge is valid only with its split after it (test_batch_reshape.py)
            node_id = _add(doc, spec.type_id, draw, {p.name: _param_value(p, draw) for p in spec.params
                                                     if not (spec.type_id == "Reshape" and p.name == "batch")})
            for port in spec.inputs:
                if not port.optional:
                    doc.add_edge(Edge(*value, node_id, port.name))
            if not any(d.severity == "error" for d in validate(doc).for_node(node_id)):
                value = (node_id, draw(st.sampled_from([p.name for p in spec.outputs])))
                break
            doc.remove_node(node_id)
    doc.add_edge(Edge(*value, _add(doc, "Output", draw), "in"))
    report = validate(doc)
    assert report.ok, [str(d) for d in report.errors]
    return doc


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"fuzzed_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(doc: GraphDocument, compiled) -> tuple[torch.Tensor, ...]:
    args = []
    for name in compiled.input_names:
        shape, dtype = compiled.placeholder_specs[name]
        size = [3, *shape[1:]]
        args.append(torch.randint(0, 2, size) if dtype == "int64" else torch.randn(size))
    return tuple(args)


def check_python_export(doc: GraphDocument, folder: Path) -> None:
    """The exported `.py` parses, loads its own weights and computes what the compiled graph does."""
    result = export_python(doc, folder / "model.py")
    model = _load_module(result.code_path).load()
    compiled = inference_graph(doc, result.weights_path)
    args = _inputs(doc, compiled)
    with torch.no_grad():  # NaN where both give it: a Sqrt of negative values
        torch.testing.assert_close(model(*args), compiled.module(*args), equal_nan=True)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_graphs())
def test_a_random_valid_graph_compiles_and_its_python_export_reproduces_it(doc):
    note(dumps(doc))
    compile_graph(doc, with_loss=False)
    with tempfile.TemporaryDirectory() as folder:
        check_python_export(doc, Path(folder))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_graphs())
def test_a_random_valid_graph_exports_to_onnx_with_parity(doc):
    note(dumps(doc))
    with tempfile.TemporaryDirectory() as folder:
        check_onnx_export(doc, Path(folder))


def check_onnx_export(doc: GraphDocument, folder: Path) -> str:
    """The ONNX export agrees with torch, or is refused with the project's own error (an op that ONNX
    cannot express); returns which."""
    try:
        result = export_onnx(doc, folder / "model.onnx")
    except LayerloomError as exc:
        return f"refused: {type(exc).__name__}"
    assert result.passed, result.summary()
    return "parity passed"
