// Linear neural ODE x' = A(s) x on [0, 1], A piecewise constant on K steps: theta = (A_1, ..., A_K),
// each n x n row-major, and U_k = I + A_k / K. phi(theta) = (U_K ... U_1).ravel() (parameter order:
// docs/theory/lifting.md).
//
// Everything is the deep linear chain of the U_k read through the affine map theta -> u:
// dphi/dtheta = (dphi/du) / K. Known laws: the upper triangles of U_{k+1}^T U_{k+1} - U_k U_k^T,
// k = 1..K-1 (the discrete form of H(s) = A' + A'^T + A^T A - A A^T of docs/theory/intrinsic.md, which is
// K^2 (U_{k+1}^T U_{k+1} - U_k U_k^T) + O(1/K)).
#pragma once

#include "linear.hpp"

namespace intrinsic_flow {

class LinearNeuralODE : public Lifting {
 public:
  LinearNeuralODE(int n, int n_steps);  // throws std::invalid_argument

  int n_params() const override { return chain_.n_params(); }
  std::int64_t n_lifted() const override { return chain_.n_lifted(); }
  int n_laws() const override { return chain_.n_laws(); }

  void lift(const double* theta, double* lifted) const override;
  void jacobian(const double* theta, double* jac) const override;
  void jacobian_derivative(const double* theta, const double* direction, double* djac) const override;
  // J = J_chain(u) / K: J^T w = J_chain(u)^T w / K and J v = J_chain(u) v / K.
  void vjp(const double* theta, const double* w, double* out) const override;
  void jvp(const double* theta, const double* v, double* out) const override;
  void conserved(const double* theta, double* laws) const override;
  void conserved_jacobian(const double* theta, double* jac) const override;

 private:
  Vector factors(const double* theta) const;  // u = vec(I) + theta / K, per step

  int n_, n_steps_;
  LinearChain chain_;
};

}  // namespace intrinsic_flow
