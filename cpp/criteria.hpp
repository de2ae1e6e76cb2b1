// Intrinsic-dynamics criteria at a point theta (main_paper §2); the NumPy twin is
// python/intrinsic_flow/reference/criteria.py, whose docstring states the definitions.
//
// rank J, rank Jh, rank [J; Jh] and dim(ker J ∩ ker Jh) from Gram eigenvalues, and the
// kernel-inclusion residual ||theta|| ||dM|_K||_HS / ||M||_F over an orthonormal basis of
// K = ker J ∩ ker Jh. When d > 2D it is computed without any d x d matrix: with [J, dJ[v]] = Q R (thin QR),
// dM[v] = dJ J^T + J dJ^T = Q (R_dJ R_J^T + R_J R_dJ^T) Q^T, so ||dM[v]||_F is the norm of a
// matrix of size at most 2D, and ||M||_F = ||J J^T||_F = ||J^T J||_F.
#pragma once

#include <vector>

#include "geometry.hpp"
#include "types.hpp"

namespace intrinsic_flow {

// The neuron rescalings of a path-lifting model: for each hidden neuron (in topological order)
// the parameters entering it (weights and bias) and leaving it. balance() moves theta to the
// balanced representative of its orbit, |incoming|^2 = |outgoing|^2 at every hidden neuron.
class NeuronRescaling {
 public:
  NeuronRescaling(std::vector<std::vector<int>> incoming, std::vector<std::vector<int>> outgoing, int n_params);
  int n_params() const { return n_params_; }
  // In place; sweeps until every scale factor is within tol of 1 (at most max_sweeps). Neurons
  // with zero incoming or zero outgoing weights are left as they are.
  void balance(double* theta) const;

  static constexpr int max_sweeps = 10000;
  static constexpr double tol = 1e-15;

 private:
  std::vector<std::vector<int>> incoming_, outgoing_;
  int n_params_;
};

struct Criteria {
  int rank_lift = 0, rank_conserved = 0, rank_joint = 0, kernel_dim = 0;
  double gap_lift = 0.0, gap_conserved = 0.0, gap_joint = 0.0, inclusion_residual = 0.0;
};
constexpr int criteria_columns = 8;  // the fields above, in order, as one row of doubles

// rescaling may be null (linear networks: evaluated at theta). With inclusion = false the
// residual is not computed (NaN) and J is never formed.
Criteria criteria(const Lifting& model, const NeuronRescaling* rescaling, const double* theta, bool inclusion);

// thetas (B, D) -> (B, criteria_columns), in parallel over samples (one sample per thread at a
// time, so rows do not depend on the thread count).
RowMatrix criteria_batch(const Lifting& model, const NeuronRescaling* rescaling, const RowMatrixRef& thetas,
                         bool inclusion);

}  // namespace intrinsic_flow
