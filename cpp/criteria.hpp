// Intrinsic-dynamics criteria at a point theta (docs/theory/criteria.md); the NumPy twin is
// python/intrinsic_flow/reference/criteria.py, whose docstring states the definitions.
//
// rank J, rank Jh, rank [J; Jh] and dim(ker J ∩ ker Jh) from Gram eigenvalues, and the
// kernel-inclusion residual ||theta|| ||dM|_K||_HS / ||M||_F over an orthonormal basis of
// K = ker J ∩ ker Jh. When d > 2D it is computed without any d x d matrix: with [J, dJ[v]] = Q R (thin QR),
// dM[v] = dJ J^T + J dJ^T = Q (R_dJ R_J^T + R_J R_dJ^T) Q^T, so ||dM[v]||_F is the norm of a
// matrix of size at most 2D, and ||M||_F = ||J J^T||_F = ||J^T J||_F.
#pragma once

#include "geometry.hpp"
#include "types.hpp"

namespace intrinsic_flow {

struct Criteria {
  int rank_lift = 0, rank_conserved = 0, rank_joint = 0, kernel_dim = 0;
  double gap_lift = 0.0, gap_conserved = 0.0, gap_joint = 0.0, inclusion_residual = 0.0;
};
constexpr int criteria_columns = 8;  // the fields above, in order, as one row of doubles

// Ranks are -1 (and floats NaN) when the Gram matrices at the rank point are not finite.
// Evaluated at model.rank_point(theta), the point where rank_lift and rank_joint are taken too (for
// path-lifting models the normalised balanced representative). With inclusion = false the residual
// is not computed (NaN) and J is never formed.
Criteria criteria(const Lifting& model, const double* theta, bool inclusion);

// thetas (B, D) -> (B, criteria_columns), in parallel over samples (one sample per thread at a
// time, so rows do not depend on the thread count).
RowMatrix criteria_batch(const Lifting& model, const RowMatrixRef& thetas, bool inclusion);

}  // namespace intrinsic_flow
