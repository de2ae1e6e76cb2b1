"""Conservation-law counts by the Lie-algebra trace (docs/theory/criteria.md, docs/theory/laws.md).

Exact values first (§9 A1-A3, A5 and the §6.5 tables), identities second (counts equal the
number of hidden neurons for ReLU nets, the rank of the known laws for two-layer linear nets,
backends agree exactly, exact and float agree), bad input third.
"""
import importlib.util
import pathlib
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import intrinsic_flow as itf
from intrinsic_flow import DAGReLUNet, LinearNet, PolynomialMap, ReLUNet
from intrinsic_flow import reference as ref

BACKENDS = [pytest.param(itf, id="core"), pytest.param(ref, id="reference")]


def as_polynomial_map(model) -> PolynomialMap:
    """The same phi as a user's PolynomialMap: no known laws, so no early stop."""
    return PolynomialMap.from_model(model)


def trace_fields(trace) -> tuple:
    return (trace.dims_by_depth, trace.dim, trace.n_params, trace.n_laws, trace.frobenius, trace.rank_lift,
            trace.rank_known_laws, trace.bound_reached)


# -- exact values ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a1_product_of_three_variables(backend):
    trace = backend.lie_trace(PolynomialMap([{(1, 1, 1): 1}], 3))  # phi = x1 x2 x3
    assert (trace.dim, trace.n_laws, trace.n_params) == (1, 2, 3)
    assert trace.frobenius


@pytest.mark.parametrize("backend", BACKENDS)
def test_a2_one_random_polynomial_field_in_five_variables(backend):
    rng = np.random.default_rng(11)
    exponents = [tuple(int(e) for e in row) for row in rng.integers(0, 3, size=(12, 5))]
    phi = PolynomialMap([{e: int(rng.integers(1, 9)) for e in exponents}], 5)  # grad phi: one field
    trace = backend.lie_trace(phi)
    assert (trace.dim, trace.n_laws) == (1, 4)


# docs/theory/laws.md and the §6.5 table: (n, r, m) -> D, dim W_phi, dim Lie, N
TWO_LAYER_LINEAR = [
    ((1, 1, 1), 2, 1, 1, 1), ((2, 1, 2), 4, 3, 3, 1), ((1, 2, 1), 4, 1, 1, 3), ((1, 2, 3), 8, 3, 5, 3),
    ((2, 2, 2), 8, 4, 5, 3), ((3, 2, 3), 12, 8, 9, 3), ((2, 3, 2), 12, 4, 6, 6), ((3, 3, 3), 18, 9, 12, 6),
    ((2, 4, 2), 16, 4, 6, 10), ((3, 4, 4), 28, 12, 18, 10), ((4, 4, 4), 32, 16, 22, 10),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nrm,n_params,dim_w,dim_lie,n_laws", TWO_LAYER_LINEAR)
def test_a3_two_layer_linear_counts(backend, nrm, n_params, dim_w, dim_lie, n_laws):
    n, r, m = nrm
    trace = backend.lie_trace(LinearNet([m, r, n]))  # input first: V (m x r) then U (n x r)
    assert (trace.n_params, trace.dims_by_depth[0], trace.dim, trace.n_laws) == (n_params, dim_w, dim_lie, n_laws)
    assert trace.rank_known_laws == n_laws == r * (r + 1) // 2
    assert trace.frobenius == (dim_w == dim_lie)


@pytest.mark.parametrize("nrm,n_params,dim_w,dim_lie,n_laws", [row for row in TWO_LAYER_LINEAR if row[0][1] >= 2])
def test_a3_counts_without_the_known_laws_bound(nrm, n_params, dim_w, dim_lie, n_laws):
    """The same phi given as a PolynomialMap: the iteration must stop on its own (no bound)."""
    n, r, m = nrm
    trace = itf.lie_trace(as_polynomial_map(LinearNet([m, r, n])))
    assert (trace.dims_by_depth[0], trace.dim, trace.n_laws) == (dim_w, dim_lie, n_laws)
    assert not trace.bound_reached and trace.rank_known_laws == 0


# docs/theory/laws.md (authors' order reversed: widths input first, hidden biases only)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("widths,bias,n_params,n_paths,dim_w,n_laws", [
    ([2, 3, 2], False, 12, 12, 9, 3),
    ([3, 2, 3], "hidden", 14, 24, 12, 2),
    ([2, 2, 2, 2], "hidden", 16, 28, 12, 4),
])
def test_a5_relu_counts_and_frobenius(backend, widths, bias, n_params, n_paths, dim_w, n_laws):
    model = ReLUNet(widths, bias=bias)
    assert (model.n_params, model.n_lifted) == (n_params, n_paths)
    trace = backend.lie_trace(model)
    assert (trace.n_params, trace.dims_by_depth[0], trace.dim, trace.n_laws) == (n_params, dim_w, dim_w, n_laws)
    assert trace.frobenius


@pytest.mark.parametrize("widths,bias", [([2, 3, 2], "hidden"), ([3, 2, 3], "hidden"), ([2, 2, 2, 2], "hidden")])
def test_a5_relu_counts_without_the_bound(widths, bias):
    """Frobenius found by the iteration itself: the brackets add nothing (dim Lie = dim W_phi)."""
    model = ReLUNet(widths, bias=bias)
    trace = itf.lie_trace(as_polynomial_map(model))
    assert trace.dims_by_depth == [model.n_params - model.n_hidden]
    assert trace.n_laws == model.n_hidden and not trace.bound_reached


def test_output_biases_add_to_d_and_dim_but_not_to_n():
    """docs/theory/lifting.md: an output bias is a length-0 path; N is unchanged."""
    hidden_only = itf.lie_trace(ReLUNet([3, 2, 3], bias="hidden"))
    every = itf.lie_trace(ReLUNet([3, 2, 3], bias=True))
    assert every.n_params == hidden_only.n_params + 3 and every.dim == hidden_only.dim + 3
    assert every.n_laws == hidden_only.n_laws == 2


def test_known_laws_complete_for_small_nets():
    assert itf.known_laws_complete(LinearNet([2, 3, 2])) and ref.known_laws_complete(ReLUNet([2, 3, 2]))
    assert itf.count_conservation_laws(LinearNet([2, 3, 2])) == 6 == ref.count_conservation_laws(LinearNet([2, 3, 2]))


# -- identities ------------------------------------------------------------------------------
relu_widths = st.lists(st.integers(1, 4), min_size=3, max_size=5)


@settings(max_examples=25, deadline=None)
@given(widths=relu_widths, bias=st.sampled_from([False, True, "hidden"]), seed=st.integers(0, 2**31))
def test_relu_count_equals_number_of_hidden_neurons(widths, bias, seed):
    model = ReLUNet(widths, bias=bias)
    trace = itf.lie_trace(model, seed=seed)
    assert trace.n_laws == model.n_hidden
    assert trace.frobenius and trace.known_laws_complete


@st.composite
def dags(draw):
    """A DAG ReLU network with skip connections: inputs, hidden, outputs in topological order."""
    n_in, n_hidden, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    n = n_in + n_hidden + n_out
    first_output = n_in + n_hidden
    edges = set()
    for v in range(n_in, n):  # every non-input neuron gets an incoming edge from an earlier one
        edges.add((draw(st.integers(0, min(v, first_output) - 1)), v))
    for u in range(first_output):  # every non-output neuron gets an outgoing edge to a later one
        if not any(a == u for a, _ in edges):
            edges.add((u, draw(st.integers(max(u + 1, n_in), n - 1))))
    candidates = [(u, v) for u in range(first_output) for v in range(max(u + 1, n_in), n)]
    edges |= set(draw(st.lists(st.sampled_from(candidates), max_size=6)))
    bias = draw(st.lists(st.sampled_from(range(n_in, n)), unique=True, max_size=3))
    return DAGReLUNet(n_in, n_out, tuple(sorted(edges)), tuple(bias))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=dags(), seed=st.integers(0, 2**31))
def test_dag_count_equals_number_of_hidden_neurons(model, seed):
    trace = itf.lie_trace(model, seed=seed)
    assert trace.n_laws == model.n_hidden


def test_dag_with_skips_by_hand():
    # 0, 1 inputs; 2, 3 hidden; 4 output; skips 0 -> 3, 0 -> 4 and 2 -> 4; biases on 3 and 4
    model = DAGReLUNet(2, 1, ((0, 2), (1, 2), (2, 3), (0, 3), (3, 4), (0, 4), (2, 4)), bias=(3, 4))
    for backend in (itf, ref):
        assert backend.count_conservation_laws(model) == 2


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), m=st.integers(1, 4), data=st.data())
def test_two_layer_linear_count_equals_rank_of_known_laws(n, m, data):
    r = data.draw(st.integers(1, min(n + m, 5)))
    trace = itf.lie_trace(LinearNet([m, r, n]), seed=data.draw(st.integers(0, 1000)))
    assert trace.n_laws == trace.rank_known_laws == r * (r + 1) // 2


AGREEMENT_MODELS = [
    LinearNet([2, 2, 2]), LinearNet([3, 4, 4, 3]), LinearNet([2, 3, 2, 2]), ReLUNet([2, 3, 3, 1], bias="hidden"),
    ReLUNet([4, 8, 8, 3]), PolynomialMap([{(1, 1, 1): 1}], 3),
    PolynomialMap([{(2, 1, 0, 0): 1, (0, 0, 1, 1): -3}, {(1, 0, 0, 2): 2, (0, 1, 1, 0): 1}], 4),
    LinearNet([4, 1, 4]),  # d = 16 > D = 8: the core takes the level-0 rank of random combinations
    PolynomialMap([{(a, b, 0): 1 + a} for a in range(3) for b in range(3) if a + b] + [{(1, 1, 1): 1}], 3),
]


@pytest.mark.parametrize("model", AGREEMENT_MODELS, ids=lambda m: type(m).__name__)
def test_core_and_reference_agree_exactly(model):
    for seed in (0, 1):
        assert trace_fields(itf.lie_trace(model, seed=seed)) == trace_fields(ref.lie_trace(model, seed=seed))


def test_core_and_reference_agree_where_brackets_are_expanded():
    """[3,4,4,3] needs brackets of brackets (three levels); unbounded maps need one more level."""
    for model in (LinearNet([3, 4, 4, 3]), as_polynomial_map(LinearNet([2, 2, 2])), as_polynomial_map(LinearNet([2, 2, 2, 2])),
                  as_polynomial_map(LinearNet([4, 1, 4]))):  # d > D, rank below the bound: basis after compression
        core, reference = itf.lie_trace(model), ref.lie_trace(model)
        assert trace_fields(core) == trace_fields(reference)
    assert len(itf.lie_trace(LinearNet([3, 4, 4, 3])).dims_by_depth) == 3


@st.composite
def polynomial_maps(draw):
    """Small random polynomial maps: 1-3 polynomials of 1-3 terms in 2-4 variables, degree <= 3."""
    n_vars = draw(st.integers(2, 4))
    exponent = st.tuples(*[st.integers(0, 1)] * n_vars).filter(lambda e: 0 < sum(e)) | \
        st.tuples(*[st.integers(0, 3)] * n_vars).filter(lambda e: 0 < sum(e) <= 3)
    polys = draw(st.lists(st.dictionaries(exponent, st.integers(-3, 3).filter(bool), min_size=1, max_size=3),
                          min_size=1, max_size=3))
    return PolynomialMap(polys, n_vars)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(model=polynomial_maps(), seed=st.integers(0, 100))
def test_core_and_reference_agree_on_random_polynomial_maps(model, seed):
    """No bound: the iteration runs until a level adds nothing, expanding brackets of brackets."""
    core, reference = itf.lie_trace(model, seed=seed), ref.lie_trace(model, seed=seed)
    assert trace_fields(core) == trace_fields(reference)
    assert core.dims_by_depth == sorted(set(core.dims_by_depth)) and core.dim <= model.n_params


@pytest.mark.parametrize("model", AGREEMENT_MODELS, ids=lambda m: type(m).__name__)
def test_exact_and_float_agree_at_generic_points(model):
    exact, floating = itf.lie_trace(model), itf.lie_trace(model, exact=False, seed=3)
    assert floating.dims_by_depth == exact.dims_by_depth and floating.n_laws == exact.n_laws
    assert floating.singular_values is not None and exact.singular_values is None
    assert floating.singular_values.size >= floating.dim  # every value considered, decreasing
    assert np.all(np.diff(floating.singular_values) <= 0)


def test_float_mode_at_a_given_theta_in_both_backends():
    model = LinearNet([2, 3, 3])
    theta = model.init(5)
    core, reference = itf.lie_trace(model, theta, exact=False), ref.lie_trace(model, theta, exact=False)
    assert trace_fields(core) == trace_fields(reference)
    np.testing.assert_allclose(core.singular_values, reference.singular_values, rtol=1e-12, atol=1e-14)


def test_result_does_not_depend_on_the_thread_count():
    model = LinearNet([4, 5, 5, 4, 2])
    threads = itf.build_info()["threads"]
    try:
        itf.set_num_threads(1)
        serial = itf.lie_trace(model)
        itf.set_num_threads(2)
        parallel = itf.lie_trace(model)
    finally:
        itf.set_num_threads(threads)
    assert trace_fields(serial) == trace_fields(parallel)


def test_large_relu_net_is_fast_enough_to_count():
    """[9,9,9,9] (6561 input paths): level 0 reaches D - (number of hidden neurons) at once."""
    model = ReLUNet([9, 9, 9, 9])
    trace = itf.lie_trace(model)
    assert trace.n_laws == 18 and trace.dims_by_depth == [model.n_params - 18]


# -- bad input -------------------------------------------------------------------------------
def test_exact_mode_refuses_a_theta():
    model = LinearNet([2, 2, 2])
    with pytest.raises(ValueError, match="theta is used only with exact=False"):
        itf.lie_trace(model, model.init(0))


def test_float_mode_checks_theta():
    with pytest.raises(ValueError, match="theta"):
        ref.lie_trace(LinearNet([2, 2, 2]), np.zeros(5), exact=False)
    with pytest.raises(ValueError, match="non-finite"):
        itf.lie_trace(LinearNet([2, 2, 2]), np.full(8, np.nan), exact=False)


def test_exact_must_be_a_bool():
    with pytest.raises(ValueError, match="exact must be True or False"):
        itf.lie_trace(LinearNet([2, 2, 2]), exact="yes")


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="lie_trace needs"):
        itf.lie_trace("not a model")


@pytest.mark.parametrize("backend", BACKENDS)
def test_models_beyond_the_budget_are_refused_before_work(backend):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"Lie bracket work for D = 8000 parameters would need about D\^3 = 5.1e\+11"):
        backend.lie_trace(ReLUNet([40, 40, 40, 40, 40, 40]))  # 4.1e9 paths, D = 8000
    assert time.perf_counter() - start < 5.0  # refused, not computed


@pytest.mark.parametrize("backend", BACKENDS)
def test_polynomial_fields_beyond_max_bytes_are_refused(backend, monkeypatch):
    monkeypatch.setattr(itf.config, "max_bytes", 100_000)
    with pytest.raises(ValueError, match=r"polynomial fields of phi would need [0-9.]+ KiB"):
        backend.lie_trace(LinearNet([5, 5, 5, 5, 5]))  # 3125 chains of 4 factors


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_mode_jacobian_beyond_max_bytes_is_refused(backend, monkeypatch):
    # ReLUNet([30, 30, 30, 30]) passes the D^3 budget (D = 2700) but its dense d x D Jacobian is 16 GiB
    monkeypatch.setattr(itf.config, "max_bytes", 10_000)  # the paths fit (4 KiB), J (64 x 33) does not
    with pytest.raises(ValueError, match=r"the Jacobian of the polynomials \(d x D\) .* would need 20.5 KiB"):
        backend.lie_trace(ReLUNet([4, 4, 4]), exact=False)


def test_relu_nets_with_many_paths_are_counted_without_listing_them():
    """The core's level 0 for path-liftings lists no path: 41472 input paths here, D = 448."""
    model = ReLUNet([6, 12, 12, 12, 4], bias=True)
    trace = itf.lie_trace(model)
    assert trace.n_laws == model.n_hidden == 36 and trace.dims_by_depth == [model.n_params - 36]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bracket_work_beyond_max_bytes_is_refused_before_expanding(backend, monkeypatch):
    model = as_polynomial_map(LinearNet([4, 5, 5, 4, 2]))  # D = 73, three levels, no bound
    monkeypatch.setattr(itf.config, "max_bytes", 8 * 73**3 + 1000)  # passes the D^3 check
    with pytest.raises(ValueError, match=r"Lie brackets of the next level would need [0-9.]+ MiB"):
        backend.lie_trace(model)


def test_reproduce_script_draws_the_notebook_architectures():
    spec = importlib.util.spec_from_file_location("reproduce_abide", pathlib.Path(__file__).parents[1] / "bench" / "reproduce_abide.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    models = module.architectures()
    assert len(models) == 100 and all(m.kind == "linear" for m in models[:50]) and all(m.kind == "path" for m in models[50:])
    assert all(2 <= len(m.widths) - 1 <= 4 and set(m.widths) <= set(range(2, 6)) for m in models[:50])
    assert all(2 <= len(m.widths) - 1 <= 4 and set(m.widths) <= set(range(2, 10)) for m in models[50:])


@pytest.mark.slow
def test_reproduce_the_100_network_experiment():
    """*Abide by the law*, docs/theory/laws.md and D: D - dim Lie = the known count for all 100."""
    spec = importlib.util.spec_from_file_location("reproduce_abide", pathlib.Path(__file__).parents[1] / "bench" / "reproduce_abide.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows, seconds = module.run(itf, verbose=False)
    mismatches = [(row[0], row[3], row[4]) for row in rows if row[3] != row[4]]
    assert not mismatches
    assert len(rows) == 100
