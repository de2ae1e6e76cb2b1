#include "criteria.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "rank.hpp"

namespace intrinsic_flow {

namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

// Rank and gap of a Gram matrix from its eigenvalues (decreasing); see reference rank_and_gap.
void rank_and_gap(const Vector& eigenvalues_desc, int& rank, double& gap) {
  const Eigen::Index n = eigenvalues_desc.size();
  rank = gram_rank(eigenvalues_desc, default_gram_rtol(static_cast<int>(n)));
  gap = infinity;
  if (rank == 0 || rank == n) return;
  const double dropped = std::abs(eigenvalues_desc(rank));
  if (dropped > 0.0) gap = std::sqrt(eigenvalues_desc(rank - 1) / dropped);
}

// True when every eigenvalue of the Gram matrix is above the rank threshold rtol * largest: then
// gram - tau I with tau = rtol * trace >= rtol * largest is positive definite, which a Cholesky
// factorisation (D^3 / 3 flops, far cheaper than an eigen-solver) confirms. False means "unknown".
bool certainly_full_rank(const RowMatrix& gram) {
  const Eigen::Index n = gram.rows();
  const double tau = default_gram_rtol(static_cast<int>(n)) * gram.trace();
  if (!(tau > 0.0)) return false;
  Eigen::MatrixXd shifted = gram;
  shifted.diagonal().array() -= tau;
  return Eigen::LLT<Eigen::MatrixXd>(shifted).info() == Eigen::Success;
}

// ||dM[v]||_F^2 for dM[v] = dJ J^T + J dJ^T: directly when d <= 2D (a small d x d matrix), else
// via the thin QR of [J, dJ] so that nothing of size d x d is formed (see criteria.hpp).
double metric_derivative_norm_sq(const RowMatrix& jac, const RowMatrix& djac) {
  const Eigen::Index d = jac.rows(), D = jac.cols(), k = std::min<Eigen::Index>(d, 2 * D);
  if (d <= 2 * D) {
    const RowMatrix half = djac * jac.transpose();
    return (half + half.transpose()).squaredNorm();
  }
  Eigen::MatrixXd stacked(d, 2 * D);
  stacked << jac, djac;
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(stacked);
  const Eigen::MatrixXd r = qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
  const Eigen::MatrixXd half = r.rightCols(D) * r.leftCols(D).transpose();
  return (half + half.transpose()).squaredNorm();
}

}  // namespace

Criteria criteria(const Lifting& model, const double* theta, bool inclusion) {
  const int D = model.n_params(), N = model.n_laws();
  Vector point(D);
  model.rank_point(theta, point.data());

  Criteria out;
  const RowMatrix gram = lift_gram(model, point.data());
  RowMatrix laws_jac(N, D);
  model.conserved_jacobian(point.data(), laws_jac.data());
  if (!gram.allFinite() || !laws_jac.allFinite()) {
    // A path product squared overflows even at the rank point: no float64 rank (the Python layer
    // raises); -1 marks it, since nothing may throw inside the parallel batch.
    out.rank_lift = out.rank_conserved = out.rank_joint = out.kernel_dim = -1;
    out.gap_lift = out.gap_conserved = out.gap_joint = out.inclusion_residual = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  rank_and_gap(symmetric_eigenvalues_desc(gram), out.rank_lift, out.gap_lift);
  rank_and_gap(symmetric_eigenvalues_desc(laws_jac * laws_jac.transpose()), out.rank_conserved, out.gap_conserved);

  const RowMatrix joint = scaled_joint_gram(gram, laws_jac);
  // rank [J; Jh] <= rank J + rank Jh: when that sum is below D the kernel is certainly not trivial
  // and the eigenvectors are needed (one decomposition); otherwise eigenvalues first, vectors
  // only if a kernel shows up (the same algorithm, so the same eigenvalues).
  const bool kernel_certain = inclusion && out.rank_lift + out.rank_conserved < D;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  if (kernel_certain) {
    solver.compute(Eigen::MatrixXd(joint), Eigen::ComputeEigenvectors);
    rank_and_gap(solver.eigenvalues().reverse(), out.rank_joint, out.gap_joint);
  } else if (certainly_full_rank(joint)) {
    out.rank_joint = D;  // every eigenvalue counts: nothing dropped, gap inf
    out.gap_joint = infinity;
  } else {
    rank_and_gap(symmetric_eigenvalues_desc(joint), out.rank_joint, out.gap_joint);
  }
  out.kernel_dim = D - out.rank_joint;

  if (!inclusion) {
    out.inclusion_residual = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  if (out.kernel_dim == 0) return out;
  if (!kernel_certain) solver.compute(Eigen::MatrixXd(joint), Eigen::ComputeEigenvectors);
  // Ascending eigenvalues: the first kernel_dim eigenvectors span K = ker J ∩ ker Jh.
  const RowMatrix jac = lift_jacobian(model, point.data());
  RowMatrix djac(jac.rows(), D);
  double moves_sq = 0.0;
  for (int k = 0; k < out.kernel_dim; ++k) {
    const Vector direction = solver.eigenvectors().col(k);
    model.jacobian_derivative(point.data(), direction.data(), djac.data());
    moves_sq += metric_derivative_norm_sq(jac, djac);
  }
  const double metric_norm = gram.norm();  // ||J J^T||_F = ||J^T J||_F
  const double moves = std::sqrt(moves_sq);
  out.inclusion_residual = metric_norm > 0.0 ? point.norm() * moves / metric_norm : (moves > 0.0 ? infinity : 0.0);
  return out;
}

RowMatrix criteria_batch(const Lifting& model, const RowMatrixRef& thetas, bool inclusion) {
  if (thetas.cols() != model.n_params())
    throw std::invalid_argument("thetas has " + std::to_string(thetas.cols()) + " columns, expected n_params = " +
                                std::to_string(model.n_params()));
  if (inclusion) model.check_ready();
  const Eigen::Index batch = thetas.rows();
  RowMatrix out(batch, criteria_columns);
  parallel_for_dynamic<Eigen::Index>(batch, true, 1, [&](Eigen::Index b) {
    const Criteria c = criteria(model, thetas.row(b).data(), inclusion);
    out.row(b) << c.rank_lift, c.rank_conserved, c.rank_joint, c.kernel_dim, c.gap_lift, c.gap_conserved,
        c.gap_joint, c.inclusion_residual;
  });
  return out;
}

}  // namespace intrinsic_flow
