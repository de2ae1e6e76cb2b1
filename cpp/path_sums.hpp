// The Gram matrix G = J^T J of a path-lifting (J = dphi(theta)) from sums over partial paths,
// without enumerating paths, over any commutative ring of scalars: double for the geometry
// (PathGraph::gram), the field F_p for exact ranks (lie.cpp). One implementation for both.
//
// With F(v) the sum over partial paths from a start (an input, or a bias) to v of prod theta^2,
// B(v) the same from v to an output, and N(a, b) from a to b (1 when a = b), and start(e) = F(src e)
// (1 for a bias), B(e) = B(dst e):
//   G_ee = start(e) B(e);
//   G_ef = theta_e theta_f start(e) N(dst e, src f) B(f)   for e before f on some path,
// and G_ef = G_fe; in a DAG at most one of the two orders has N != 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "parallel.hpp"

namespace intrinsic_flow {

// The structure of a path graph, by reference: parameter e is the edge src[e] -> dst[e]
// (src[e] = -1 for a bias); neurons 0 .. n_inputs - 1 are the inputs, the last n_outputs the
// outputs; topo is a topological order; in_params[v] (out_params[v]) lists the parameters into
// (out of) neuron v, biases included in in_params.
struct PathGraphView {
  int n_neurons, n_inputs, n_outputs;
  const std::vector<int>& src;
  const std::vector<int>& dst;
  const std::vector<int>& topo;
  const std::vector<std::vector<int>>& in_params;
  const std::vector<std::vector<int>>& out_params;
};

// Forward and backward sums with edge factors a (D,): forward[v] = sum over partial paths from a
// start (an input, or a bias) to v of prod a_e, backward[v] = the same from v to an output (1 at
// outputs). With a = theta^2 they build the Gram matrix below; with a = |theta|^q,
// sum over the outputs of forward = ||phi(theta)||_q^q (the path-norm) and d/da_e of it is
// start(e) backward(dst e). backward == nullptr: the forward sums only (the path-norm without its
// gradient: half the work).
template <typename Scalar>
void path_sums(const PathGraphView& graph, const Scalar* a, Scalar* forward, Scalar* backward) {
  const int n = graph.n_neurons;
  const Scalar zero(0), one(1);
  for (int v = 0; v < n; ++v) forward[v] = zero;
  for (int v : graph.topo) {
    if (v < graph.n_inputs) {
      forward[v] = one;
      continue;
    }
    for (int p : graph.in_params[v]) forward[v] = forward[v] + a[p] * (graph.src[p] < 0 ? one : forward[graph.src[p]]);
  }
  if (backward == nullptr) return;
  for (int v = 0; v < n; ++v) backward[v] = zero;
  const int first_output = n - graph.n_outputs;
  for (auto it = graph.topo.rbegin(); it != graph.topo.rend(); ++it) {
    const int v = *it;
    if (v >= first_output) {
      backward[v] = one;
      continue;
    }
    for (int p : graph.out_params[v]) backward[v] = backward[v] + a[p] * backward[graph.dst[p]];
  }
}

// The same sums in log space, for edge factors |w_e|^q given as log_w = log|w_e| (-inf at a zero
// weight) and the order q > 0: forward[v] = (1/q) log sum over partial paths from a start to v of
// prod |w_e|^q, backward[v] the same from v to an output (0 at inputs, resp. outputs; -inf where the
// sum is 0). Each neuron takes a log-sum-exp of its terms t_e = forward[src e] + log_w[e] in units
// of 1/q, m + (1/q) log sum_e exp(q (t_e - m)) with m = max_e t_e, so that no power, product or sum
// leaves the float64 range whatever the scale of w, the length of the paths or q (the path-norm is
// exp of the output sums, computed by the caller). backward == nullptr: the forward sums only.
inline double log_sum_exp_q(const double* terms, int n, double q) {
  double top = -std::numeric_limits<double>::infinity();
  for (int k = 0; k < n; ++k) top = std::max(top, terms[k]);
  // -inf: no term; +inf: a sum beyond float64 already (q near 0), and inf - inf would give NaN
  if (std::isinf(top)) return top;
  double sum = 0.0;
  for (int k = 0; k < n; ++k) sum += std::exp(q * (terms[k] - top));
  return top + std::log(sum) / q;
}

// log(a b) for logs a, b that may be -inf (a zero factor) or +inf (a sum beyond float64, q near 0):
// a zero factor wins, so the term is -inf rather than NaN.
inline double log_product(double a, double b) {
  constexpr double minus_inf = -std::numeric_limits<double>::infinity();
  return (a == minus_inf || b == minus_inf) ? minus_inf : a + b;
}

inline void log_path_sums(const PathGraphView& graph, const double* log_w, double q, double* forward,
                          double* backward) {
  const int n = graph.n_neurons;
  std::vector<double> terms;
  for (int v : graph.topo) {
    if (v < graph.n_inputs) {
      forward[v] = 0.0;
      continue;
    }
    terms.clear();
    for (int p : graph.in_params[v]) terms.push_back(log_product(log_w[p], graph.src[p] < 0 ? 0.0 : forward[graph.src[p]]));
    forward[v] = log_sum_exp_q(terms.data(), static_cast<int>(terms.size()), q);
  }
  if (backward == nullptr) return;
  const int first_output = n - graph.n_outputs;
  for (auto it = graph.topo.rbegin(); it != graph.topo.rend(); ++it) {
    const int v = *it;
    if (v >= first_output) {
      backward[v] = 0.0;
      continue;
    }
    terms.clear();
    for (int p : graph.out_params[v]) terms.push_back(log_product(log_w[p], backward[graph.dst[p]]));
    backward[v] = log_sum_exp_q(terms.data(), static_cast<int>(terms.size()), q);
  }
}

// gram (D, D), row-major, D = src.size(). Scalar needs +, * and construction from 0 and 1. Rows
// are independent (in parallel for large D); each entry is computed by the same operations
// whatever the thread count.
template <typename Scalar>
void path_sum_gram(const PathGraphView& graph, const Scalar* theta, Scalar* gram) {
  const int n = graph.n_neurons, D = static_cast<int>(graph.src.size());
  const Scalar zero(0), one(1);
  std::vector<Scalar> squared(D);
  for (int e = 0; e < D; ++e) squared[e] = theta[e] * theta[e];
  std::vector<Scalar> forward(n, zero), backward(n, zero);
  path_sums<Scalar>(graph, squared.data(), forward.data(), backward.data());
  // between[a * n + b] = N(a, b): for each a, over the neurons after a in topological order.
  std::vector<int> position(n);
  for (int k = 0; k < n; ++k) position[graph.topo[k]] = k;
  std::vector<Scalar> between(static_cast<std::size_t>(n) * n, zero);
  for (int a = 0; a < n; ++a) {
    Scalar* from_a = between.data() + static_cast<std::size_t>(a) * n;
    from_a[a] = one;
    for (int k = position[a] + 1; k < n; ++k) {
      const int b = graph.topo[k];
      Scalar sum = zero;
      for (int p : graph.in_params[b])
        if (graph.src[p] >= 0) sum = sum + squared[p] * from_a[graph.src[p]];
      from_a[b] = sum;
    }
  }
  std::vector<Scalar> start(D), back(D);
  for (int e = 0; e < D; ++e) {
    start[e] = graph.src[e] < 0 ? one : forward[graph.src[e]];
    back[e] = backward[graph.dst[e]];
  }
  // Row by row, each entry from both orders (one of them is zero in a DAG): contiguous writes.
  parallel_for_static<int>(D, static_cast<std::int64_t>(D) * D > 1000000, [&](int e) {
    Scalar* row = gram + static_cast<std::int64_t>(e) * D;
    const int dst_e = graph.dst[e], src_e = graph.src[e];
    const Scalar* from_dst_e = between.data() + static_cast<std::size_t>(dst_e) * n;
    for (int f = 0; f < D; ++f) {
      Scalar value = zero;
      if (graph.src[f] >= 0) value = value + start[e] * from_dst_e[graph.src[f]] * back[f];
      if (src_e >= 0) value = value + start[f] * between[static_cast<std::size_t>(graph.dst[f]) * n + src_e] * back[e];
      row[f] = value * theta[e] * theta[f];
    }
    row[e] = start[e] * back[e];
  });
}

}  // namespace intrinsic_flow
