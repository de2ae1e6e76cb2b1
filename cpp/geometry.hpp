// The geometry of a factorisation z = phi(theta): what every model provides (Lifting) and what is
// derived from it once for all models (metric, its derivative, Gram ranks, batches over theta).
#pragma once

#include <cstdint>

#include "types.hpp"

namespace intrinsic_flow {

class Lifting {
 public:
  virtual ~Lifting() = default;
  virtual int n_params() const = 0;
  virtual std::int64_t n_lifted() const = 0;
  virtual int n_laws() const = 0;
  // Throws if the model cannot evaluate yet (e.g. paths not enumerated). Called before any
  // parallel region, since nothing may throw inside one.
  virtual void check_ready() const {}

  virtual void lift(const double* theta, double* lifted) const = 0;                    // (d,)
  virtual void jacobian(const double* theta, double* jac) const = 0;                   // (d, D)
  virtual void jacobian_derivative(const double* theta, const double* direction, double* djac) const = 0;
  // Products with J = dphi(theta) without forming it (the defaults form J; every model of the
  // core overrides them): vjp writes J^T w (D,) for w (d,), jvp writes J v (d,) for v (D,).
  virtual void vjp(const double* theta, const double* w, double* out) const;
  virtual void jvp(const double* theta, const double* v, double* out) const;
  virtual void conserved(const double* theta, double* laws) const = 0;                 // (N,)
  virtual void conserved_jacobian(const double* theta, double* jac) const = 0;         // (N, D)
  // G = J^T J (D, D); the default forms J.
  virtual void gram(const double* theta, double* gram_out) const;
  // The point of theta's symmetry orbit where ranks are taken (default theta itself). For the
  // path-lifting: the balanced representative, so that rescaling a neuron changes no rank.
  virtual void rank_point(const double* theta, double* point) const;
};

RowMatrix lift_jacobian(const Lifting& model, const double* theta);
RowMatrix metric(const Lifting& model, const double* theta);
RowMatrix metric_derivative(const Lifting& model, const double* theta, const double* direction);
RowMatrix lift_gram(const Lifting& model, const double* theta);
// Gram matrix of the stacked Jacobian [J; Jh]: J^T J + Jh^T Jh.
RowMatrix joint_gram(const Lifting& model, const double* theta);
// The same with each block scaled to unit trace, J^T J / ||J||_F^2 + Jh^T Jh / ||Jh||_F^2 (a zero
// block is kept as is): rank [J; Jh] is unchanged, and no longer depends on how the two blocks
// scale with theta (theta -> s theta scales J by s^(k-1) and Jh by s). Used by every joint rank.
RowMatrix scaled_joint_gram(const Lifting& model, const double* theta);
RowMatrix scaled_joint_gram(const RowMatrix& gram, const RowMatrix& laws_jac);  // from G and Jh

// x e^a without overflow of e^a alone: a = q log 2 + r, x e^a = ldexp(mantissa(x) e^r, exponent(x) + q).
double times_exp(double x, double a);
// point = theta / c with c the geometric mean of the nonzero |theta_e| (theta when all are zero):
// the rank point of homogeneous models (J(theta / c) = c^(1-k) J(theta), Jh(theta / c) = Jh / c).
void unit_geometric_scale(const double* theta, double* point, int n);

struct RankResult {
  int rank;  // -1 when the Gram matrix at the rank point is not finite
  Vector eigenvalues;  // of the scaled Gram matrix, decreasing: squared singular values
};
RankResult rank_lift(const Lifting& model, const double* theta, double rtol);
RankResult rank_joint(const Lifting& model, const double* theta, double rtol);

// Batched evaluations: thetas (B, D) -> one row per sample, in parallel over samples.
RowMatrix lift_batch(const Lifting& model, const RowMatrixRef& thetas);
RowMatrix jacobian_batch(const Lifting& model, const RowMatrixRef& thetas);        // (B, d*D)
// The same into a caller's buffer out (B, d*D), row-major, rows contiguous.
void jacobian_batch_into(const Lifting& model, const RowMatrixRef& thetas, double* out);
RowMatrix vjp_batch(const Lifting& model, const RowMatrixRef& thetas, const RowMatrixRef& ws);  // (B, D)
RowMatrix jvp_batch(const Lifting& model, const RowMatrixRef& thetas, const RowMatrixRef& vs);  // (B, d)
RowMatrix metric_batch(const Lifting& model, const RowMatrixRef& thetas);          // (B, d*d)
RowMatrix conserved_batch(const Lifting& model, const RowMatrixRef& thetas);
RowMatrix conserved_jacobian_batch(const Lifting& model, const RowMatrixRef& thetas);
RowMatrix gram_batch(const Lifting& model, const RowMatrixRef& thetas);            // (B, D*D)
Eigen::VectorXi rank_lift_batch(const Lifting& model, const RowMatrixRef& thetas, double rtol);
Eigen::VectorXi rank_joint_batch(const Lifting& model, const RowMatrixRef& thetas, double rtol);

}  // namespace intrinsic_flow
