// The abc network: gradients against central finite differences (every activation and both
// losses, with and without the unscaled biases of the later layers), an SGD step equals weights
// minus lr times the gradient (biases with their own rates), results bit-identical for 1 and 2
// threads, and bad shapes throw.
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "parallel.hpp"
#include "parameterizations.hpp"

using namespace intrinsic_flow;

namespace {

struct Problem {
  std::vector<RowMatrix> weights;
  Vector bias0;
  std::vector<double> scales;
  Eigen::MatrixXd x, targets;  // columns are samples
};

Problem make_problem(int d, int width, int n_out, int n_hidden, int batch, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto draw = [&](Eigen::Index r, Eigen::Index c) {
    RowMatrix m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(gen);
    return m;
  };
  Problem p;
  p.weights.push_back(draw(width, d));
  for (int l = 1; l < n_hidden; ++l) p.weights.push_back(draw(width, width));
  p.weights.push_back(draw(n_out, width));
  p.bias0 = draw(width, 1).col(0);
  for (int l = 0; l <= n_hidden; ++l) p.scales.push_back(std::pow(static_cast<double>(width), -0.5 * (l > 0)));
  p.x = draw(d, batch);
  p.targets = Eigen::MatrixXd::Zero(n_out, batch);
  for (int j = 0; j < batch; ++j) p.targets(j % n_out, j) = 1.0;
  return p;
}

void test_gradients_match_finite_differences() {
  for (const char* act : {"relu", "gelu", "elu", "tanh", "sigmoid"}) {
    for (const char* loss : {"cross_entropy", "mse"}) {
      Problem p = make_problem(3, 6, 4, 3, 5, 7);
      AbcNetwork net(p.weights, p.bias0, p.scales, act, loss);
      std::vector<RowMatrix> grads;
      Vector grad_bias;
      net.loss_and_gradients(p.x, p.targets, grads, grad_bias);
      const double eps = 1e-6;
      double worst = 0.0;
      for (size_t l = 0; l < p.weights.size(); ++l) {
        for (Eigen::Index i = 0; i < p.weights[l].size(); ++i) {
          std::vector<RowMatrix> plus = p.weights, minus = p.weights;
          plus[l].data()[i] += eps;
          minus[l].data()[i] -= eps;
          AbcNetwork np(plus, p.bias0, p.scales, act, loss), nm(minus, p.bias0, p.scales, act, loss);
          std::vector<RowMatrix> g;
          Vector gb;
          const double fd = (np.loss_and_gradients(p.x, p.targets, g, gb) - nm.loss_and_gradients(p.x, p.targets, g, gb)) / (2 * eps);
          worst = std::max(worst, std::abs(fd - grads[l].data()[i]));
        }
      }
      for (Eigen::Index i = 0; i < p.bias0.size(); ++i) {
        Vector plus = p.bias0, minus = p.bias0;
        plus[i] += eps;
        minus[i] -= eps;
        AbcNetwork np(p.weights, plus, p.scales, act, loss), nm(p.weights, minus, p.scales, act, loss);
        std::vector<RowMatrix> g;
        Vector gb;
        const double fd = (np.loss_and_gradients(p.x, p.targets, g, gb) - nm.loss_and_gradients(p.x, p.targets, g, gb)) / (2 * eps);
        worst = std::max(worst, std::abs(fd - grad_bias[i]));
      }
      check::report(worst < 1e-7, std::string("finite differences ") + act + " " + loss + " worst " + std::to_string(worst),
                    __FILE__, __LINE__);
    }
  }
}

// A NaN input gives NaN outputs for every activation (ReLU must not clamp it to 0).
void test_nan_input_stays_nan() {
  for (const char* act : {"relu", "gelu", "elu", "tanh", "sigmoid"}) {
    Problem p = make_problem(3, 6, 4, 2, 2, 3);
    AbcNetwork net(p.weights, p.bias0, p.scales, act, "mse");
    p.x(0, 0) = std::nan("");
    net.forward(p.x);
    const Eigen::MatrixXd out = net.output();
    check::report(out.col(0).array().isNaN().all() && out.col(1).allFinite(),
                  std::string("NaN input propagates through ") + act, __FILE__, __LINE__);
  }
}

void test_sgd_step_is_gradient_step() {
  Problem p = make_problem(4, 70, 3, 2, 6, 11);
  AbcNetwork net(p.weights, p.bias0, p.scales, "tanh", "cross_entropy");
  std::vector<RowMatrix> grads;
  Vector grad_bias;
  const double before = net.loss_and_gradients(p.x, p.targets, grads, grad_bias);
  const std::vector<double> lrs = {0.3, 0.2, 0.1};
  const double reported = net.sgd_step(p.x, p.targets, lrs);
  CHECK(before == reported);
  double worst = 0.0;
  for (size_t l = 0; l < grads.size(); ++l)
    worst = std::max(worst, (net.weights()[l] - (p.weights[l] - lrs[l] * grads[l])).cwiseAbs().maxCoeff());
  worst = std::max(worst, (net.bias0() - (p.bias0 - lrs[0] * grad_bias)).cwiseAbs().maxCoeff());
  CHECK(worst < 1e-13);
}

std::vector<Vector> later_biases(const Problem& p) {
  std::vector<Vector> biases;
  for (size_t l = 1; l < p.weights.size(); ++l)
    biases.push_back(Vector::LinSpaced(p.weights[l].rows(), -0.5, 0.7 + 0.1 * static_cast<double>(l)));
  return biases;
}

void test_later_biases() {
  Problem p = make_problem(3, 6, 4, 3, 5, 5);
  const std::vector<Vector> biases = later_biases(p);
  AbcNetwork net(p.weights, p.bias0, p.scales, "gelu", "cross_entropy", biases);
  std::vector<RowMatrix> grads;
  Vector grad_bias;
  std::vector<Vector> grad_biases;
  const double before = net.loss_and_gradients(p.x, p.targets, grads, grad_bias, grad_biases);
  const double eps = 1e-6;
  double worst = 0.0;
  for (size_t l = 0; l < biases.size(); ++l) {
    for (Eigen::Index i = 0; i < biases[l].size(); ++i) {
      std::vector<Vector> plus = biases, minus = biases;
      plus[l][i] += eps;
      minus[l][i] -= eps;
      AbcNetwork np(p.weights, p.bias0, p.scales, "gelu", "cross_entropy", plus);
      AbcNetwork nm(p.weights, p.bias0, p.scales, "gelu", "cross_entropy", minus);
      std::vector<RowMatrix> g;
      Vector gb;
      const double fd = (np.loss_and_gradients(p.x, p.targets, g, gb) - nm.loss_and_gradients(p.x, p.targets, g, gb)) / (2 * eps);
      worst = std::max(worst, std::abs(fd - grad_biases[l][i]));
    }
  }
  check::report(worst < 1e-7, "finite differences of the later biases, worst " + std::to_string(worst), __FILE__, __LINE__);
  const std::vector<double> lrs = {0.3, 0.2, 0.1, 0.05}, bias_lrs = {0.7, 0.6, 0.5, 0.4};
  CHECK(net.sgd_step(p.x, p.targets, lrs, bias_lrs) == before);
  double moved = (net.bias0() - (p.bias0 - bias_lrs[0] * grad_bias)).cwiseAbs().maxCoeff();
  for (size_t l = 0; l < biases.size(); ++l) {
    moved = std::max(moved, (net.biases()[l] - (biases[l] - bias_lrs[l + 1] * grad_biases[l])).cwiseAbs().maxCoeff());
    moved = std::max(moved, (net.weights()[l] - (p.weights[l] - lrs[l] * grads[l])).cwiseAbs().maxCoeff());
  }
  CHECK(moved < 1e-13);
  bool threw = false;
  try {
    net.sgd_step(p.x, p.targets, lrs, {0.1});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
}

void test_thread_count_invariance() {
  std::vector<RowMatrix> results[2];
  for (int threads : {1, 2}) {
    set_max_threads(threads);
    Problem p = make_problem(5, 300, 4, 3, 64, 3);  // products above the parallel threshold
    AbcNetwork net(p.weights, p.bias0, p.scales, "gelu", "cross_entropy", later_biases(p));
    for (int step = 0; step < 3; ++step) net.sgd_step(p.x, p.targets, {0.05, 0.05, 0.05, 0.05}, {0.1, 0.2, 0.3, 0.4});
    results[threads - 1] = net.weights();
    for (const Vector& b : net.biases()) results[threads - 1].push_back(b);
  }
  bool identical = true;
  for (size_t l = 0; l < results[0].size(); ++l) identical = identical && (results[0][l].array() == results[1][l].array()).all();
  CHECK(identical);
}

void test_bad_shapes_throw() {
  Problem p = make_problem(3, 6, 4, 2, 5, 1);
  bool threw = false;
  try {
    AbcNetwork(p.weights, p.bias0, {1.0}, "relu", "mse");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    AbcNetwork(p.weights, p.bias0, p.scales, "softplus", "mse");
  } catch (const std::invalid_argument& error) {
    threw = std::string(error.what()).find("softplus") != std::string::npos;
  }
  CHECK(threw);
  AbcNetwork net(p.weights, p.bias0, p.scales, "relu", "mse");
  threw = false;
  try {
    net.forward(Eigen::MatrixXd::Zero(2, 5));
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
}

}  // namespace

int main() {
  test_gradients_match_finite_differences();
  test_nan_input_stays_nan();
  test_sgd_step_is_gradient_step();
  test_later_biases();
  test_thread_count_invariance();
  test_bad_shapes_throw();
  return check::finish("test_parameterizations");
}
