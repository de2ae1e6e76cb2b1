// Path-lifting of ReLU networks on a DAG (layered networks are DAGs too).
//
// Every parameter is an edge src -> dst between neurons; a bias of neuron v is an edge from a
// virtual source (src = -1) to v. A path starts at an input neuron, or at a bias (its first
// factor), and ends at an output neuron; phi_p(theta) = prod_{e in p} theta_e (docs/theory/lifting.md).
//
// Path order: paths from input neurons first, then paths starting at a bias, ordered by the biased
// neuron; within each group, lexicographic in the sequence of neurons visited. For a layered
// network numbered layer by layer this is the C order of docs/theory/lifting.md.
#pragma once

#include <cstdint>
#include <vector>

#include "geometry.hpp"
#include "path_sums.hpp"
#include "types.hpp"

namespace intrinsic_flow {

// Balancing (PathGraph::balanced) sweeps the hidden neurons until no log-scale moves by more than
// kBalanceTolerance in a sweep, at most kBalanceMaxSweeps sweeps. The NumPy twin uses the same
// constants (reference/lifting.py).
constexpr int kBalanceMaxSweeps = 10000;
constexpr double kBalanceTolerance = 1e-13;

class PathGraph : public Lifting {
 public:
  // Throws std::invalid_argument on any malformed graph (index out of range, edge into an input
  // or out of an output, duplicate edge, cycle, dangling neuron).
  PathGraph(int n_neurons, int n_inputs, int n_outputs, std::vector<int> param_src,
            std::vector<int> param_dst);

  int n_params() const override { return static_cast<int>(param_dst_.size()); }
  std::int64_t n_lifted() const override {
    return paths_ready() ? static_cast<std::int64_t>(path_offsets_.size()) - 1 : static_cast<std::int64_t>(n_paths_);
  }
  int n_laws() const override { return static_cast<int>(hidden_.size()); }
  void check_ready() const override;
  // The balanced representative of theta (D,) -> point (D,): hidden neurons rescaled (phi
  // unchanged) until |in|^2 = |out|^2 at each; with normalise, also divided by the geometric mean
  // of its nonzero |entries| (a global scale: rank-preserving, see lifting.cpp). Computed in log
  // space, so no square overflows or underflows whatever the scale of theta.
  void balanced(const double* theta, double* point, bool normalise) const;
  // The normalised balanced representative: ranks there equal ranks at theta.
  void rank_point(const double* theta, double* point) const override { balanced(theta, point, true); }
  int n_neurons() const { return n_neurons_; }
  // Number of paths as a double: it may exceed any integer type we could enumerate.
  double n_paths() const { return n_paths_; }
  const std::vector<int>& hidden() const { return hidden_; }

  // phi(theta): (d,)
  void lift(const double* theta, double* lifted) const override;
  // d phi(theta): (d, D), row-major, written densely (zeros included).
  void jacobian(const double* theta, double* jac) const override;
  // Directional derivative of the Jacobian along v: (d, D).
  void jacobian_derivative(const double* theta, const double* direction, double* djac) const override;
  // J^T w (D,) and J v (d,) on the path table, O(paths x depth), without forming J.
  void vjp(const double* theta, const double* w, double* out) const override;
  void jvp(const double* theta, const double* v, double* out) const override;
  // Known laws h_v = |in(v)|^2 - |out(v)|^2 per hidden neuron, and their Jacobian (H, D).
  void conserved(const double* theta, double* laws) const override;
  void conserved_jacobian(const double* theta, double* jac) const override;
  // G = J^T J (D, D) from forward, backward and neuron-to-neuron sums of squared weights,
  // without enumerating paths (path_sums.hpp).
  void gram(const double* theta, double* gram_out) const override;

  // Forward and backward sums of prod a_e over partial paths (path_sums.hpp), (n_neurons,) each:
  // with a = |theta|^q they give the path-norm ||phi(theta)||_q^q and its gradient without paths.
  void path_sums(const double* a, double* forward, double* backward) const;  // backward may be nullptr
  // The same in log space (log_path_sums in path_sums.hpp): log_w = log|theta| (-inf at zeros),
  // forward/backward = (1/q) log of the sums of |theta|^q products; for any scale of theta and any q > 0.
  void log_path_sums(const double* log_w, double q, double* forward, double* backward) const;

  // Exact rank of J from the zero pattern of theta alone, in O(D) (see lifting.cpp).
  int exact_rank(const double* theta) const;
  // The same for each row of thetas (B, D): ranks (B,), in parallel over samples. Throws
  // std::invalid_argument when thetas does not have D columns.
  Eigen::VectorXi exact_rank_batch(const RowMatrixRef& thetas) const;

  // Builds the path table; required before lift/jacobian. Throws std::length_error if the number
  // of paths exceeds max_paths.
  void enumerate_paths(double max_paths);
  bool paths_ready() const { return !path_offsets_.empty(); }
  // The graph's structure as path_sums.hpp takes it (valid while this object lives).
  PathGraphView view() const;

 private:
  void dfs_paths(int neuron, std::vector<int>& prefix);
  std::vector<int> topological_order() const;

  int n_neurons_, n_inputs_, n_outputs_;
  std::vector<int> param_src_, param_dst_;
  std::vector<std::vector<int>> out_params_;  // params leaving each neuron, sorted by dst
  std::vector<std::vector<int>> in_params_;   // params (edges and bias) entering each neuron
  std::vector<int> bias_of_;                  // bias param of each neuron or -1
  std::vector<int> hidden_;
  std::vector<int> topo_;
  double n_paths_ = 0.0;
  std::vector<std::int64_t> path_offsets_;
  std::vector<int> path_params_;
  int max_path_length_ = 0;
};

}  // namespace intrinsic_flow
