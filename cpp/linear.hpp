// Deep linear networks: phi(theta) = (W_L ... W_1).ravel(), W_l of shape (d_l, d_{l-1}) stored
// row-major one after the other in theta (docs/theory/lifting.md).
#pragma once

#include <vector>

#include "geometry.hpp"
#include "types.hpp"

namespace intrinsic_flow {

class LinearChain : public Lifting {
 public:
  explicit LinearChain(std::vector<int> widths);  // throws std::invalid_argument

  int n_params() const override { return n_params_; }
  std::int64_t n_lifted() const override { return static_cast<std::int64_t>(widths_.front()) * widths_.back(); }
  int n_laws() const override { return n_laws_; }

  void lift(const double* theta, double* lifted) const override;
  // J[(i, j), W_l[a, b]] = (W_L..W_{l+1})[i, a] (W_{l-1}..W_1)[b, j]
  void jacobian(const double* theta, double* jac) const override;
  void jacobian_derivative(const double* theta, const double* direction, double* djac) const override;
  // With G = w as (d_L, d_0) and V_l = v on layer l, through the products (J never formed):
  // J^T w = (suffix[l+1]^T G prefix[l]^T)_l and J v = sum_l suffix[l+1] V_l prefix[l].
  void vjp(const double* theta, const double* w, double* out) const override;
  void jvp(const double* theta, const double* v, double* out) const override;
  // H_l = W_{l+1}^T W_{l+1} - W_l W_l^T, upper triangles row by row, l = 1..L-1.
  void conserved(const double* theta, double* laws) const override;
  void conserved_jacobian(const double* theta, double* jac) const override;
  // phi is homogeneous: ranks are taken at theta over the geometric mean of its |entries|.
  void rank_point(const double* theta, double* point) const override { unit_geometric_scale(theta, point, n_params()); }

 private:
  ConstMatrixMap layer(const double* theta, int l) const;  // l = 0..L-1
  // prefix[k] = W_k..W_1 (prefix[0] = I), suffix[k] = W_L..W_{k+1} (suffix[L] = I)
  void products(const double* theta, std::vector<RowMatrix>& prefix, std::vector<RowMatrix>& suffix) const;
  void product_derivatives(const double* theta, const double* direction, const std::vector<RowMatrix>& prefix,
                           const std::vector<RowMatrix>& suffix, std::vector<RowMatrix>& dprefix,
                           std::vector<RowMatrix>& dsuffix) const;
  void fill_jacobian(const std::vector<RowMatrix>& left, const std::vector<RowMatrix>& right, double* jac,
                     bool accumulate) const;

  std::vector<int> widths_;
  std::vector<int> offsets_;
  int n_params_ = 0, n_laws_ = 0;
};

}  // namespace intrinsic_flow
