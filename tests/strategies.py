"""Hypothesis strategies for random architectures and other helpers shared by the test modules."""
from hypothesis import strategies as st

from intrinsic_flow import DAGReLUNet, LinearNet, ReLUNet


@st.composite
def relu_nets(draw, max_depth=4, max_width=4):
    depth = draw(st.integers(1, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    bias = draw(st.sampled_from([False, True, "hidden"]))
    return ReLUNet(widths, bias=bias)


@st.composite
def linear_nets(draw, max_depth=3, max_width=4):
    depth = draw(st.integers(1, max_depth))
    return LinearNet(draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1)))


@st.composite
def dag_nets(draw, max_hidden=5):
    """A layered core plus random skip connections and random biases."""
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    n_hidden = draw(st.integers(1, max_hidden))
    hidden = list(range(n_in, n_in + n_hidden))
    outputs = list(range(n_in + n_hidden, n_in + n_hidden + n_out))
    edges = set()
    for h in hidden:  # every hidden neuron gets an input from an earlier neuron and feeds a later one
        earlier = list(range(n_in)) + [g for g in hidden if g < h]
        edges.add((draw(st.sampled_from(earlier)), h))
        later = [g for g in hidden if g > h] + outputs
        edges.add((h, draw(st.sampled_from(later))))
    for i in range(n_in):
        edges.add((i, draw(st.sampled_from(hidden + outputs))))
    for o in outputs:
        edges.add((draw(st.sampled_from(list(range(n_in)) + hidden)), o))
    extra = draw(st.lists(st.tuples(st.integers(0, n_in + n_hidden - 1), st.integers(n_in, n_in + n_hidden + n_out - 1)),
                          max_size=6))
    edges |= {(u, v) for u, v in extra if u < v}
    bias = draw(st.lists(st.sampled_from(hidden + outputs), unique=True, max_size=3))
    return DAGReLUNet(n_in, n_out, sorted(edges), bias=bias)


any_model = st.one_of(relu_nets(), linear_nets(), dag_nets())


def rescale_neuron(model, theta, neuron, factor):
    """Incoming weights and bias of a hidden neuron times factor, outgoing over factor: same phi."""
    g = model.graph
    theta = theta.copy()
    for k, (s, t) in enumerate(zip(g.param_src, g.param_dst)):
        if t == neuron:
            theta[k] *= factor
        elif s == neuron:
            theta[k] /= factor
    return theta
