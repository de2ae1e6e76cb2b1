// The deep linear training loops: the gradient against finite differences, the law of parsimony
// on the complement of an orthogonal start (rho_{t+1} = rho_t - eta rho_t^{2L-1}), frozen layers,
// early stopping, and the RK4 flow against rho(t) = (eps^{-(2L-2)} + (2L-2) t)^{-1/(2L-2)}.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "parsimony.hpp"

using namespace intrinsic_flow;

namespace {

// W_l = eps I (square) and a target supported on the first r coordinates: the last d - r diagonal
// entries of every factor are then a scalar rho following the complement recursion exactly.
Vector scaled_identities(int d, int depth, double eps) {
  Vector theta = Vector::Zero(static_cast<Eigen::Index>(d) * d * depth);
  for (int l = 0; l < depth; ++l)
    for (int i = 0; i < d; ++i) theta(static_cast<Eigen::Index>(l) * d * d + i * d + i) = eps;
  return theta;
}

RowMatrix corner_target(int d, int r) {
  RowMatrix target = RowMatrix::Zero(d, d);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < r; ++j) target(i, j) = 0.3 + 0.1 * i - 0.05 * j;
  return target;
}

}  // namespace

int main() {
  const int d = 5, depth = 3;
  const double eps = 0.9, eta = 0.05;
  // gradient against central differences, with rectangular factors, inputs, a mask and ReLU
  {
    const std::vector<int> dims{3, 4, 2};
    RowMatrix inputs(3, 5), targets(2, 5), mask(2, 5);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) inputs(i, j) = std::sin(1.0 + i + 2.0 * j);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 5; ++j) {
        targets(i, j) = std::cos(0.5 * i + j);
        mask(i, j) = (i + j) % 3 == 0 ? 0.0 : 1.0;
      }
    for (bool relu : {false, true}) {
      const DeepLinearLoss loss(dims, inputs, targets, mask, 0.1, relu);
      Vector theta(loss.n_params()), gradient(loss.n_params());
      for (Eigen::Index i = 0; i < theta.size(); ++i) theta(i) = std::cos(0.7 * static_cast<double>(i) + 0.3);
      loss.value_and_gradient(theta.data(), gradient.data());
      const double h = 1e-6;
      for (Eigen::Index i = 0; i < theta.size(); ++i) {
        Vector plus = theta, minus = theta, unused(theta.size());
        plus(i) += h;
        minus(i) -= h;
        const double numeric = (loss.value_and_gradient(plus.data(), unused.data()) -
                                loss.value_and_gradient(minus.data(), unused.data())) / (2 * h);
        CHECK_NEAR(gradient(i), numeric, 1e-7);
      }
    }
  }
  // the complement scale follows its scalar recursion exactly (gradient descent)
  {
    const int r = 2;
    const DeepLinearLoss loss({d, d, d, d}, RowMatrix(), corner_target(d, r), RowMatrix(), 1.0, false);
    const long n_steps = 200;
    TrainResult result = train_gradient_descent(loss, scaled_identities(d, depth, eps),
                                                std::vector<double>(depth, eta), 0.0, n_steps, 50, 0.0);
    CHECK_EQ(result.steps_done, n_steps);
    CHECK_EQ(static_cast<long>(result.saved_steps.size()), 5L);
    CHECK_EQ(result.saved_steps.back(), n_steps);
    double rho = eps;
    for (long t = 0; t < n_steps; ++t) rho -= eta * std::pow(rho, 2 * depth - 1);
    for (int l = 0; l < depth; ++l)
      for (int i = r; i < d; ++i) CHECK_NEAR(result.states(4, l * d * d + i * d + i), rho, 1e-13);
    CHECK(result.losses.back() < result.losses.front());
    // early stop at a loss threshold: the loss is the complement's plus a vanishing rest
    TrainResult stopped = train_gradient_descent(loss, scaled_identities(d, depth, eps),
                                                 std::vector<double>(depth, eta), 0.0, n_steps, 0,
                                                 result.losses[100]);
    CHECK(stopped.converged);
    CHECK(stopped.steps_done <= 100);
    // a frozen layer keeps its value
    TrainResult frozen = train_gradient_descent(loss, scaled_identities(d, depth, eps), {eta, 0.0, eta}, 0.9, 20, 0,
                                                0.0);
    CHECK_NEAR(frozen.states(1, d * d), eps, 0.0);
    CHECK_THROWS(train_gradient_descent(loss, Vector::Zero(3), std::vector<double>(depth, eta), 0.0, 1, 1, 0.0),
                 std::invalid_argument, "theta0 has length");
  }
  // RK4 on the flow: the complement scale follows the closed form
  {
    const DeepLinearLoss loss({d, d, d, d}, RowMatrix(), corner_target(d, 1), RowMatrix(), 1.0, false);
    const double dt = 0.01;
    const long n_steps = 600;
    TrainResult result = train_rk4(loss, scaled_identities(d, depth, 1.0), dt, n_steps, 0);
    const double exact = std::pow(1.0 + 4.0 * dt * n_steps, -0.25);  // eps = 1, L = 3: (1 + 4t)^{-1/4}
    CHECK_NEAR(result.states(1, d * d - 1), exact, 1e-9);
  }
  CHECK_THROWS(DeepLinearLoss({3, 3}, RowMatrix(), RowMatrix::Zero(2, 3), RowMatrix(), 1.0, false),
               std::invalid_argument, "targets has shape");
  return check::finish("test_parsimony");
}
