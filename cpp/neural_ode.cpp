#include "neural_ode.hpp"

#include <stdexcept>
#include <vector>

namespace intrinsic_flow {

namespace {
std::vector<int> square_widths(int n, int n_steps) {
  if (n < 1 || n_steps < 1) throw std::invalid_argument("LinearNeuralODE: n and n_steps must be >= 1");
  return std::vector<int>(n_steps + 1, n);
}
}  // namespace

LinearNeuralODE::LinearNeuralODE(int n, int n_steps) : n_(n), n_steps_(n_steps), chain_(square_widths(n, n_steps)) {}

Vector LinearNeuralODE::factors(const double* theta) const {
  Vector u = Eigen::Map<const Vector>(theta, n_params()) / static_cast<double>(n_steps_);
  for (int k = 0; k < n_steps_; ++k)
    for (int i = 0; i < n_; ++i) u[static_cast<std::int64_t>(k) * n_ * n_ + i * n_ + i] += 1.0;
  return u;
}

void LinearNeuralODE::lift(const double* theta, double* lifted) const { chain_.lift(factors(theta).data(), lifted); }

void LinearNeuralODE::jacobian(const double* theta, double* jac) const {
  chain_.jacobian(factors(theta).data(), jac);
  Eigen::Map<Vector>(jac, n_lifted() * n_params()) /= static_cast<double>(n_steps_);
}

void LinearNeuralODE::vjp(const double* theta, const double* w, double* out) const {
  chain_.vjp(factors(theta).data(), w, out);
  Eigen::Map<Vector>(out, n_params()) /= static_cast<double>(n_steps_);
}

void LinearNeuralODE::jvp(const double* theta, const double* v, double* out) const {
  chain_.jvp(factors(theta).data(), v, out);
  Eigen::Map<Vector>(out, n_lifted()) /= static_cast<double>(n_steps_);
}

void LinearNeuralODE::jacobian_derivative(const double* theta, const double* direction, double* djac) const {
  const Vector du = Eigen::Map<const Vector>(direction, n_params()) / static_cast<double>(n_steps_);
  chain_.jacobian_derivative(factors(theta).data(), du.data(), djac);
  Eigen::Map<Vector>(djac, n_lifted() * n_params()) /= static_cast<double>(n_steps_);
}

void LinearNeuralODE::conserved(const double* theta, double* laws) const {
  chain_.conserved(factors(theta).data(), laws);
}

void LinearNeuralODE::conserved_jacobian(const double* theta, double* jac) const {
  chain_.conserved_jacobian(factors(theta).data(), jac);
  Eigen::Map<Vector>(jac, static_cast<std::int64_t>(n_laws()) * n_params()) /= static_cast<double>(n_steps_);
}

}  // namespace intrinsic_flow
