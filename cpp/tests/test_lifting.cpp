// Path-lifting of small ReLU networks: phi against hand-computed products, J against its closed
// form, the Gram matrix by path sums against J^T J, the balanced representative's invariants, and
// the exact rank from the zero pattern.
#include <cmath>
#include <limits>
#include <vector>

#include "check.hpp"
#include "lifting.hpp"
#include "parallel.hpp"

using namespace intrinsic_flow;

namespace {

// A layered network numbered layer by layer; parameters W_l (row-major, edge i -> j at j * in + i)
// then b_l when layer l has biases.
PathGraph layered(const std::vector<int>& widths, const std::vector<bool>& bias) {
  std::vector<int> src, dst, first(widths.size());
  int n = 0;
  for (std::size_t l = 0; l < widths.size(); ++l) first[l] = n, n += widths[l];
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    for (int j = 0; j < widths[l + 1]; ++j)
      for (int i = 0; i < widths[l]; ++i) src.push_back(first[l] + i), dst.push_back(first[l + 1] + j);
    if (bias[l])
      for (int j = 0; j < widths[l + 1]; ++j) src.push_back(-1), dst.push_back(first[l + 1] + j);
  }
  PathGraph graph(n, widths.front(), widths.back(), src, dst);
  graph.enumerate_paths(1e6);
  return graph;
}

std::vector<double> sample(int n, double seed) {  // deterministic, nonzero, of both signs
  std::vector<double> theta(n);
  for (int e = 0; e < n; ++e) theta[e] = std::sin(seed + 1.7 * e) + (e % 2 ? 0.3 : -0.4);
  return theta;
}

void test_lift_and_jacobian_by_hand() {
  // [2, 2, 1] without bias: params 0: 0->2, 1: 1->2, 2: 0->3, 3: 1->3, 4: 2->4, 5: 3->4.
  // Paths in order 0-2-4, 0-3-4, 1-2-4, 1-3-4: phi = (t0 t4, t2 t5, t1 t4, t3 t5).
  PathGraph graph = layered({2, 2, 1}, {false, false});
  CHECK_EQ(graph.n_params(), 6);
  CHECK_EQ(graph.n_lifted(), 4);
  CHECK_EQ(graph.n_laws(), 2);
  const double theta[6] = {1, 2, 3, 4, 5, 6};
  double lifted[4];
  graph.lift(theta, lifted);
  const double expected[4] = {5, 18, 10, 24};
  for (int q = 0; q < 4; ++q) CHECK_EQ(lifted[q], expected[q]);
  double jac[4 * 6];
  graph.jacobian(theta, jac);
  const double expected_jac[4][6] = {{5, 0, 0, 0, 1, 0}, {0, 0, 6, 0, 0, 3}, {0, 5, 0, 0, 2, 0}, {0, 0, 0, 6, 0, 4}};
  for (int q = 0; q < 4; ++q)
    for (int e = 0; e < 6; ++e) CHECK_EQ(jac[q * 6 + e], expected_jac[q][e]);
  // Known laws h_v = |in v|^2 - |out v|^2: neuron 2: 1 + 4 - 25, neuron 3: 9 + 16 - 36.
  double laws[2];
  graph.conserved(theta, laws);
  CHECK_EQ(laws[0], -20.0);
  CHECK_EQ(laws[1], -11.0);
}

void test_bias_paths_by_hand() {
  // [1, 1, 1] with a hidden bias: params 0: 0->1, 1: bias of 1, 2: 1->2; paths 0-1-2, then the
  // bias path: phi = (t0 t2, t1 t2).
  PathGraph graph = layered({1, 1, 1}, {true, false});
  const double theta[3] = {2, 3, 7};
  double lifted[2];
  graph.lift(theta, lifted);
  CHECK_EQ(lifted[0], 14.0);
  CHECK_EQ(lifted[1], 21.0);
}

void test_gram_equals_jt_j() {
  // G by sums over partial paths (no path enumerated) against J^T J from the path table.
  const std::vector<std::vector<int>> shapes = {{2, 3, 2}, {3, 2, 2, 2}, {2, 3, 3, 1}};
  for (const auto& widths : shapes)
    for (bool with_bias : {false, true}) {
      const std::vector<bool> bias(widths.size() - 1, with_bias);
      PathGraph graph = layered(widths, bias);
      const int D = graph.n_params();
      const auto d = graph.n_lifted();
      const std::vector<double> theta = sample(D, 0.3 * D);
      RowMatrix jac(d, D), gram(D, D);
      graph.jacobian(theta.data(), jac.data());
      graph.gram(theta.data(), gram.data());
      const RowMatrix expected = jac.transpose() * jac;
      CHECK((gram - expected).cwiseAbs().maxCoeff() <= 1e-13 * expected.cwiseAbs().maxCoeff());
      CHECK((gram - gram.transpose()).cwiseAbs().maxCoeff() <= 1e-15 * gram.cwiseAbs().maxCoeff());
    }
}

void test_balanced_representative() {
  // |in v|^2 = |out v|^2 at every hidden neuron, phi unchanged; normalised: geometric mean 1.
  PathGraph graph = layered({3, 4, 3, 2}, {true, true, false});
  const int D = graph.n_params();
  std::vector<double> theta = sample(D, 1.1);
  for (int e = 0; e < 3; ++e) theta[e] *= 1e6;  // a badly balanced start
  std::vector<double> point(D), normalised(D), laws(graph.n_laws());
  graph.balanced(theta.data(), point.data(), false);
  graph.conserved(point.data(), laws.data());
  // |in|^2 + |out|^2 at neuron v: a quarter of the squared row v of the laws' Jacobian (+-2 theta_e)
  RowMatrix laws_jac(graph.n_laws(), D);
  graph.conserved_jacobian(point.data(), laws_jac.data());
  for (int v = 0; v < graph.n_laws(); ++v) CHECK(std::abs(laws[v]) <= 1e-13 * laws_jac.row(v).squaredNorm() / 4);
  std::vector<double> before(graph.n_lifted()), after(graph.n_lifted());
  graph.lift(theta.data(), before.data());
  graph.lift(point.data(), after.data());
  for (std::size_t q = 0; q < before.size(); ++q) CHECK_NEAR(after[q], before[q], 1e-12);
  graph.balanced(theta.data(), normalised.data(), true);
  double log_mean = 0.0;
  for (double x : normalised) log_mean += std::log(std::abs(x)) / D;
  CHECK(std::abs(log_mean) <= 1e-12);
  // Rescaling a hidden neuron (in x s, out / s) does not move the normalised balanced point.
  std::vector<double> rescaled = theta, again(D);
  for (int e = 0; e < D; ++e) {  // neuron 3 (the first hidden one): in 0->3, 1->3, 2->3, bias; out 3->*
    if (e == 0 || e == 1 || e == 2 || e == 12) rescaled[e] *= 1e4;
  }
  for (int j = 0; j < 3; ++j) rescaled[16 + j * 4] /= 1e4;  // W_2 column 0: 3 -> 7 + j
  graph.balanced(rescaled.data(), again.data(), true);
  for (int e = 0; e < D; ++e) CHECK_NEAR(again[e], normalised[e], 1e-9);
}

void test_exact_rank() {
  // Generic point: rank J = D - #hidden = 4. With theta_4 (2 -> 4) = 0 the paths through neuron 2
  // vanish, but their rows t0 e_4 and t1 e_4 remain: rank 2 (live paths 0-3-4, 1-3-4) + 1 = 3.
  // With the weights into neuron 2 zero as well those rows vanish too: rank 2.
  PathGraph graph = layered({2, 2, 1}, {false, false});
  const double generic[6] = {1, 2, 3, 4, 5, 6};
  CHECK_EQ(graph.exact_rank(generic), 4);
  const double cut[6] = {1, 2, 3, 4, 0, 6}, dead[6] = {0, 0, 3, 4, 0, 6};
  CHECK_EQ(graph.exact_rank(cut), 3);
  CHECK_EQ(graph.exact_rank(dead), 2);
  // Both match the rank of J, exact on these small integers.
  RowMatrix jac(4, 6);
  graph.jacobian(cut, jac.data());
  CHECK_EQ(static_cast<int>(Eigen::FullPivLU<Eigen::MatrixXd>(jac).rank()), 3);
  graph.jacobian(dead, jac.data());
  CHECK_EQ(static_cast<int>(Eigen::FullPivLU<Eigen::MatrixXd>(jac).rank()), 2);
}

void test_exact_rank_batch_is_parallel_and_identical() {
  PathGraph graph = layered({3, 4, 3, 2}, {true, true, false});
  const int D = graph.n_params(), B = 3001;  // B x D > 10^5: the threaded branch
  RowMatrix thetas(B, D);
  for (int b = 0; b < B; ++b) {
    const std::vector<double> theta = sample(D, 0.01 * b);
    for (int e = 0; e < D; ++e) thetas(b, e) = (e * 7 + b) % 11 == 0 ? 0.0 : theta[e];
  }
  set_max_threads(2);
  const Eigen::VectorXi ranks = graph.exact_rank_batch(thetas);
  for (int b = 0; b < B; ++b) CHECK_EQ(ranks(b), graph.exact_rank(thetas.row(b).data()));
  // a strided view (every other sample) is read through its stride
  const Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>> every_other(thetas.data(), (B + 1) / 2, D,
                                                                           Eigen::OuterStride<>(2 * D));
  const Eigen::VectorXi strided = graph.exact_rank_batch(every_other);
  for (int b = 0; b < (B + 1) / 2; ++b) CHECK_EQ(strided(b), ranks(2 * b));
  CHECK_THROWS(graph.exact_rank_batch(thetas.leftCols(D - 1)), std::invalid_argument, "has 36 columns, expected 37");
}

void test_path_sums_give_the_path_norm() {
  // sum over the outputs of forward sums on a = |theta|^q is sum_p |phi_p|^q (biases included), and
  // start(e) backward(dst e) is its derivative in a_e: (S(a + h e_e) - S(a)) / h exactly (S is affine in a_e).
  PathGraph graph = layered({3, 4, 3, 2}, {true, true, true});
  const int D = graph.n_params(), n = graph.n_neurons();
  const std::vector<double> theta = sample(D, 0.7);
  std::vector<double> phi(graph.n_lifted());
  graph.lift(theta.data(), phi.data());
  for (double q : {1.0, 2.0, 3.5}) {
    std::vector<double> a(D), forward(n), backward(n);
    for (int e = 0; e < D; ++e) a[e] = std::pow(std::abs(theta[e]), q);
    graph.path_sums(a.data(), forward.data(), backward.data());
    double total = 0.0, expected = 0.0;
    for (int v = n - 2; v < n; ++v) total += forward[v];
    for (double z : phi) expected += std::pow(std::abs(z), q);
    CHECK_NEAR(total, expected, 1e-12);
    std::vector<double> forward_only(n, -1.0);  // without backward: the same forward sums
    graph.path_sums(a.data(), forward_only.data(), nullptr);
    for (int v = 0; v < n; ++v) CHECK_EQ(forward_only[v], forward[v]);
    const int e = 5;  // an edge 2 -> 4 of the first layer: start = forward[2] = 1
    std::vector<double> moved = a, f2(n), b2(n);
    moved[e] += 1.0;
    graph.path_sums(moved.data(), f2.data(), b2.data());
    CHECK_NEAR(f2[n - 2] + f2[n - 1] - total, forward[2] * backward[4], 1e-12);
  }
}

void test_log_path_sums_are_the_logs_of_the_path_sums_at_any_scale() {
  // In range, (1/q) log of the plain sums; after rescaling a hidden neuron by 1e200 (phi unchanged,
  // |theta|^q out of range for q = 2) the output sums are the same and finite; at q = 800 with
  // |theta| < 1 (every |theta|^q underflows) they are the logs computed term by term.
  PathGraph graph = layered({3, 4, 3, 2}, {true, true, true});
  const int D = graph.n_params(), n = graph.n_neurons();
  const std::vector<double> theta = sample(D, 0.3);
  std::vector<double> log_w(D);
  for (int e = 0; e < D; ++e) log_w[e] = std::log(std::abs(theta[e]));
  for (double q : {0.5, 1.0, 2.0, 3.5}) {
    std::vector<double> a(D), forward(n), backward(n), log_forward(n), log_backward(n);
    for (int e = 0; e < D; ++e) a[e] = std::pow(std::abs(theta[e]), q);
    graph.path_sums(a.data(), forward.data(), backward.data());
    graph.log_path_sums(log_w.data(), q, log_forward.data(), log_backward.data());
    for (int v = 0; v < n; ++v) {
      CHECK_NEAR(log_forward[v], std::log(forward[v]) / q, 1e-13);
      CHECK_NEAR(log_backward[v], std::log(backward[v]) / q, 1e-13);
    }
  }
  // neuron 4 (the second hidden neuron of the first layer): incoming (weights 4..6 of 4 * 3 and
  // its bias) x 1e200, outgoing / 1e200
  std::vector<double> moved = log_w, plain(n), scaled(n);
  const double shift = std::log(1e200);
  std::vector<int> src, dst;
  {
    std::vector<int> first = {0, 3, 7, 10};
    for (int l = 0; l < 3; ++l) {
      const int in = first[l + 1] - first[l], out = (l == 2 ? 2 : first[l + 2] - first[l + 1]);
      for (int j = 0; j < out; ++j)
        for (int i = 0; i < in; ++i) src.push_back(first[l] + i), dst.push_back(first[l + 1] + j);
      for (int j = 0; j < out; ++j) src.push_back(-1), dst.push_back(first[l + 1] + j);
    }
  }
  for (int e = 0; e < D; ++e) {
    if (dst[e] == 4) moved[e] += shift;
    if (src[e] == 4) moved[e] -= shift;
  }
  graph.log_path_sums(log_w.data(), 2.0, plain.data(), nullptr);
  graph.log_path_sums(moved.data(), 2.0, scaled.data(), nullptr);
  for (int v = n - 2; v < n; ++v) CHECK_NEAR(scaled[v], plain[v], 1e-12);
  CHECK(std::abs(scaled[4] - plain[4] - shift) < 1e-9);
  // q = 800: the forward sum at the first output against a direct log-sum-exp over the paths
  std::vector<double> phi(graph.n_lifted()), at_800(n);
  graph.lift(theta.data(), phi.data());
  graph.log_path_sums(log_w.data(), 800.0, at_800.data(), nullptr);
  double top = -1e300;
  for (double z : phi) top = std::max(top, std::log(std::abs(z)));
  double sum = 0.0;
  for (double z : phi) sum += std::exp(800.0 * (std::log(std::abs(z)) - top));
  const double expected = top + std::log(sum) / 800.0;
  const double both = std::max(at_800[n - 2], at_800[n - 1]);
  const double combined = both + std::log(std::exp(800.0 * (at_800[n - 2] - both)) + std::exp(800.0 * (at_800[n - 1] - both))) / 800.0;
  CHECK_NEAR(combined, expected, 1e-12);
  CHECK(std::isfinite(combined) && combined >= top - 1e-12 && combined <= top + std::log(double(phi.size())) / 800.0);
  CHECK(std::abs(800.0 * top) > 709.0);  // max |phi_p|^800 itself is beyond the float64 range
  // a zero weight: -inf, and a neuron fed by zero weights alone has the sum -inf
  std::vector<double> zeros(D, -std::numeric_limits<double>::infinity()), none(n);
  graph.log_path_sums(zeros.data(), 1.0, none.data(), nullptr);
  CHECK_EQ(none[0], 0.0);
  CHECK(none[n - 1] == -std::numeric_limits<double>::infinity());
}

void test_a_graph_of_bias_paths_alone() {
  // No input: a hidden neuron 0 fed by the bias 0, the output 1 by neuron 0 (param 1) and a bias (2).
  PathGraph graph(2, 0, 1, {-1, 0, -1}, {0, 1, 1});
  graph.enumerate_paths(10.0);
  CHECK_EQ(graph.n_lifted(), 2);
  const double theta[3] = {2.0, 3.0, -5.0};
  double lifted[2];
  graph.lift(theta, lifted);
  CHECK_EQ(lifted[0], 6.0);
  CHECK_EQ(lifted[1], -5.0);
  CHECK_EQ(graph.exact_rank(theta), 2);
  CHECK_THROWS(PathGraph(2, -1, 1, {-1}, {1}), std::invalid_argument, "n_inputs >= 0");
}

}  // namespace

int main() {
  test_lift_and_jacobian_by_hand();
  test_bias_paths_by_hand();
  test_gram_equals_jt_j();
  test_balanced_representative();
  test_exact_rank();
  test_exact_rank_batch_is_parallel_and_identical();
  test_path_sums_give_the_path_norm();
  test_log_path_sums_are_the_logs_of_the_path_sums_at_any_scale();
  test_a_graph_of_bias_paths_alone();
  return check::finish("test_lifting");
}
